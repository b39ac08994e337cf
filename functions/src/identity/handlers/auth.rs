//! `/api/v1/auth/*`: register, join, login, refresh, logout and the caller's
//! own profile. The flows live in `crate::identity::flows`; these handlers read the
//! request and shape the response (JSON body plus the browser's refresh cookie).

use crate::identity::flows::{
    self, JoinInput, LoginInput, PasswordReset, RegisterInput, ResetRequest, Session, Verification,
};
use crate::identity::profile::{self, PasswordChange, ProfilePatch};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::auth::tokens;
use shared::http::ApiResponse;
use shared::runtime::{ok, Ctx, HandlerResult};
use shared::ApiError;

fn token_body(session: &Session) -> Value {
    json!({
        "accessToken": session.tokens.access_token,
        "refreshToken": session.tokens.refresh_token,
        "expiresIn": session.tokens.expires_in,
        "user": session.user.to_json(),
    })
}

fn with_cookie(mut response: ApiResponse, session: &Session) -> ApiResponse {
    let t = &session.tokens;
    response.set_header(
        "set-cookie",
        &tokens::cookie(&t.refresh_token, t.refresh_expires_in),
    );
    response.set_header("cache-control", "no-store");
    response
}

/// The answer to a sign-in of any kind: token pair, user, organization, and
/// the refresh cookie.
pub fn signed_in(session: Session, status: StatusCode) -> ApiResponse {
    let mut body = token_body(&session);
    body["organization"] = session.org.to_json();
    with_cookie(ApiResponse::json(status, &body), &session)
}

/// `POST /api/v1/auth/register` -> 201 with the organization, its owner and a token pair.
pub async fn register(ctx: Ctx) -> HandlerResult {
    let input: RegisterInput = ctx.req.json()?;
    match flows::register(&ctx.state, input, &ctx.meta()).await? {
        flows::Registered::Session(session) => Ok(signed_in(*session, StatusCode::CREATED)),
        flows::Registered::Confirming => Ok(ApiResponse::json(
            StatusCode::ACCEPTED,
            &json!({ "detail": "Confirm this email address with the link we sent to it; the organization is created then, and you sign in with your password" }),
        )),
    }
}

/// `POST /api/v1/auth/join` -> 201 with the PENDING user; no tokens until approved.
pub async fn join(ctx: Ctx) -> HandlerResult {
    let input: JoinInput = ctx.req.json()?;
    let user = flows::join(&ctx.state, input, &ctx.meta()).await?;
    Ok(ApiResponse::created(&json!({
        "user": user.to_json(),
        "detail": "An administrator of the organization has to approve this account before it can sign in",
    })))
}

/// `POST /api/v1/auth/login` -> 200 with a token pair and the refresh cookie.
pub async fn login(ctx: Ctx) -> HandlerResult {
    let input: LoginInput = ctx.req.json()?;
    let session = flows::login(&ctx.state, input, &ctx.meta()).await?;
    Ok(with_cookie(
        ApiResponse::ok(&token_body(&session)),
        &session,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshInput {
    refresh_token: Option<String>,
}

/// The refresh token from the body, or else from the cookie.
fn presented_token(ctx: &Ctx, from_body: Option<String>) -> Option<String> {
    from_body.filter(|t| !t.is_empty()).or_else(|| {
        ctx.req
            .cookie(tokens::COOKIE_NAME)
            .filter(|t| !t.is_empty())
    })
}

/// `POST /api/v1/auth/refresh` `{refreshToken}` (or the cookie) -> a new pair.
pub async fn refresh(ctx: Ctx) -> HandlerResult {
    let input: RefreshInput = ctx.req.json_or_empty()?;
    let token = presented_token(&ctx, input.refresh_token).ok_or_else(|| {
        ApiError::field(
            "refreshToken",
            "is required, in the body or the refresh_token cookie",
        )
    })?;
    let session = flows::refresh(&ctx.state, &token, &ctx.meta()).await?;
    let body = json!({
        "accessToken": session.tokens.access_token,
        "refreshToken": session.tokens.refresh_token,
        "expiresIn": session.tokens.expires_in,
    });
    Ok(with_cookie(ApiResponse::ok(&body), &session))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LogoutInput {
    refresh_token: Option<String>,
    #[serde(default)]
    all_sessions: bool,
}

/// `POST /api/v1/auth/logout` -> 204; revokes the presented refresh token,
/// or all of the caller's with `{"allSessions": true}`.
pub async fn logout(ctx: Ctx) -> HandlerResult {
    let input: LogoutInput = ctx.req.json_or_empty()?;
    let token = presented_token(&ctx, input.refresh_token);
    flows::logout(ctx.scope()?, token.as_deref(), input.all_sessions).await?;
    let mut r = ApiResponse::no_content();
    r.set_header("set-cookie", &tokens::clear_cookie());
    Ok(r)
}

/// `PATCH /api/v1/auth/me`: the caller's own name.
pub async fn update_me(ctx: Ctx) -> HandlerResult {
    let input: ProfilePatch = ctx.req.json()?;
    ok(profile::update(ctx.scope()?, input).await?.to_json())
}

/// `GET /api/v1/auth/me` -> the caller, their organization, role and plan,
/// and a `banner` for the app to show (an unverified email) or null.
pub async fn me(ctx: Ctx) -> HandlerResult {
    let caller = ctx.scope()?.caller();
    let banner = (!caller.user.email_verified).then(|| {
        json!({
            "code": "EMAIL_UNVERIFIED",
            "message": format!("Confirm your email address: we sent a link to {}", caller.user.email),
            "action": { "method": "POST", "path": "/api/v1/auth/verify-email/resend" },
        })
    });
    ok(json!({
        "user": caller.user.to_json(),
        "organization": caller.org.to_json(),
        "role": caller.role,
        "plan": caller.org.plan,
        "banner": banner,
    }))
}

/// `POST /api/v1/auth/password-reset/request` `{email}` (no sign-in) ->
/// 202, whether or not the email has an account.
pub async fn password_reset_request(ctx: Ctx) -> HandlerResult {
    let input: ResetRequest = ctx.req.json()?;
    flows::request_password_reset(&ctx.state, input, &ctx.meta()).await?;
    Ok(ApiResponse::json(
        StatusCode::ACCEPTED,
        &json!({ "detail": "If this email belongs to an account, a link to reset its password is on its way" }),
    ))
}

/// `POST /api/v1/auth/verify-email` `{token}` (no sign-in) -> 204.
pub async fn verify_email(ctx: Ctx) -> HandlerResult {
    let input: Verification = ctx.req.json()?;
    flows::verify_email(&ctx.state, input, &ctx.meta()).await?;
    Ok(ApiResponse::no_content())
}

/// `POST /api/v1/auth/verify-email/resend` -> 202 with a new link on its
/// way, or 200 when the email is already verified.
pub async fn resend_verification(ctx: Ctx) -> HandlerResult {
    /// The route takes no input: an empty body or `{}`.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    let _: Nothing = ctx.req.json_or_empty()?;
    if flows::resend_verification(ctx.scope()?).await? {
        Ok(ApiResponse::json(
            StatusCode::ACCEPTED,
            &json!({ "emailVerified": false, "detail": "A new verification link is on its way" }),
        ))
    } else {
        ok(json!({ "emailVerified": true }))
    }
}

/// `POST /api/v1/auth/password` `{currentPassword, newPassword}` -> 204;
/// the caller's other sessions are signed out.
pub async fn password(ctx: Ctx) -> HandlerResult {
    let input: PasswordChange = ctx.req.json()?;
    profile::change_password(ctx.scope()?, input).await?;
    Ok(ApiResponse::no_content())
}

/// `POST /api/v1/auth/password-reset` `{token, newPassword}` (no sign-in)
/// -> 204; the token (emailed, or issued by an operator) is used up and
/// every session ends.
pub async fn password_reset(ctx: Ctx) -> HandlerResult {
    let input: PasswordReset = ctx.req.json()?;
    flows::reset_password(&ctx.state, input, &ctx.meta()).await?;
    Ok(ApiResponse::no_content())
}

/// `GET /api/v1/auth/sessions` -> the caller's live sessions.
pub async fn sessions(ctx: Ctx) -> HandlerResult {
    ok(profile::sessions(ctx.scope()?).await?)
}

/// `DELETE /api/v1/auth/sessions/{id}` -> 204; that session is signed out.
pub async fn end_session(ctx: Ctx) -> HandlerResult {
    profile::end_session(ctx.scope()?, ctx.path_id()?).await?;
    Ok(ApiResponse::no_content())
}
