//! Estimate and invoice PDFs, read back with Debian's `pdftotext`
//! (poppler-utils, installed by scripts/test.sh): the invoice number, every
//! line's description and the total the API reports are in the text; long
//! invoices break into pages, each after the first with the table header;
//! data with `<`, `#`, `$` and right-to-left text renders as text; a share
//! link gets its own document; the file is made once per version.

use bson::doc;
use serde_json::json;

use crate::helpers::*;
use crate::work_orders::{add_line, customer, move_to, open};

/// The text of the PDF a `302` points at, and the PDF.
async fn pdf_text(app: &TestApp, r: &Resp) -> (String, Vec<u8>) {
    assert_eq!(r.status, 302, "{}", r.text);
    let url = r.header("location").unwrap();
    let got = app.http.get(url).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    let pdf = got.bytes().await.unwrap().to_vec();
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = std::env::temp_dir().join(format!("crm-pdf-{}", bson::oid::ObjectId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("doc.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let tool = std::env::var("PDFTOTEXT").unwrap_or_else(|_| "pdftotext".into());
    let out = std::process::Command::new(tool)
        .args(["-layout", file.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    (String::from_utf8_lossy(&out.stdout).to_string(), pdf)
}

/// "1,234.56" of `minor` units, as a locale without settings prints it.
fn money(minor: i64) -> String {
    let units = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", minor % 100)
}

#[tokio::test]
async fn an_invoice_pdf_shows_its_number_lines_and_total_and_breaks_into_pages() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_API_FREE", "100000")]).await;
    let owner = app.owner().await.clone();
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "address": "Hauptstr. 1\n10115 Berlin",
                    "documents": { "taxId": "DE123456789", "footer": "Acme Garage GmbH, Amtsgericht Berlin HRB 1" } } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, vehicle) = customer(&app, &owner).await;
    let r = app
        .patch(
            &format!("/api/v1/vehicles/{vehicle}"),
            Some(&owner),
            json!({ "plate": "B-XY 9876" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let plate = r.str("plate");
    let r = open(&app, &owner, &vehicle, json!({})).await;
    let order = r.str("id");
    let names = [
        "Brake <pads> #1 costs $45",
        "תיקון בלמים Hebrew repair",
        "Diagnosis",
    ];
    for (i, name) in names.iter().enumerate() {
        let r = add_line(
            &app,
            &owner,
            &order,
            json!({ "type": "FEE", "description": name, "quantity": i + 1, "unitPrice": 12_345, "taxRate": 1900 }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let pdf = format!("/api/v1/work-orders/{order}/invoice.pdf");
    app.get(&pdf, Some(&owner))
        .await
        .assert_problem(404, "NOT_FOUND");
    let lines: Vec<String> = app
        .get(&format!("/api/v1/work-orders/{order}"), Some(&owner))
        .await
        .body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let decisions: Vec<(&str, &str)> = lines.iter().map(|l| (l.as_str(), "APPROVED")).collect();
    let r = crate::work_orders::approve(&app, &owner, &order, &decisions).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for to in ["APPROVED", "IN_PROGRESS", "COMPLETED", "INVOICED"] {
        let r = move_to(&app, &owner, &order, to).await;
        assert_eq!(r.status, 200, "{to}: {}", r.text);
    }
    let invoice = app
        .get(
            &format!("/api/v1/work-orders/{order}/invoice"),
            Some(&owner),
        )
        .await;
    let (number, total) = (
        invoice.body["number"].as_str().unwrap().to_string(),
        invoice.body["total"].as_i64().unwrap(),
    );
    let r = app.get(&pdf, Some(&owner)).await;
    let (text, first) = pdf_text(&app, &r).await;
    assert!(text.contains(&number), "{text}");
    assert!(text.contains(&money(total)), "{} in {text}", money(total));
    assert!(text.contains("Brake <pads> #1 costs $45"), "{text}");
    assert!(text.contains("Hebrew repair"), "{text}");
    assert!(text.contains("Diagnosis"));
    assert!(text.contains("DE123456789") && text.contains("HRB 1"));
    assert!(text.contains(&plate), "staff see the plate: {text}");
    assert_eq!(text.matches('\u{c}').count(), 1, "one page");
    assert!(text.contains("Page 1 of 1"));
    // The same version is not made again: the same file comes back.
    let again = app.get(&pdf, Some(&owner)).await;
    let (_, second) = pdf_text(&app, &again).await;
    assert_eq!(first, second);

    // 40 and 250 lines: at least 2 and 6 pages, the header on each.
    for (rows, pages) in [(40_usize, 2_usize), (250, 6)] {
        let many: Vec<bson::Document> = (0..rows)
            .map(|i| doc! { "id": bson::oid::ObjectId::new(), "type": "FEE", "description": format!("Row {i} of the long invoice"),
                            "quantity": 1_i64, "unitPrice": 100_i64, "taxRate": 0_i64, "amount": 100_i64, "tax": 0_i64 })
            .collect();
        app.db
            .collection::<bson::Document>("work_orders")
            .update_one(
                doc! { "_id": oid(&order) },
                doc! { "$set": { "invoice.lines": many }, "$inc": { "version": 1_i64 } },
            )
            .await
            .unwrap();
        let r = app.get(&pdf, Some(&owner)).await;
        let (text, _) = pdf_text(&app, &r).await;
        let sheets: Vec<&str> = text
            .split('\u{c}')
            .filter(|p| !p.trim().is_empty())
            .collect();
        assert!(sheets.len() >= pages, "{rows} rows: {} pages", sheets.len());
        for (n, sheet) in sheets.iter().enumerate() {
            assert!(
                sheet.contains("Description"),
                "page {} has no header",
                n + 1
            );
            assert!(sheet.contains(&format!("Page {} of {}", n + 1, sheets.len())));
        }
        assert!(text.contains(&format!("Row {} of the long invoice", rows - 1)));
    }

    // Through a share link of the invoice, no account.
    let r = app
        .post(
            &format!("/api/v1/work-orders/{order}/share-links"),
            Some(&owner),
            json!({ "purpose": "INVOICE" }),
        )
        .await;
    let token = r.str("url").rsplit('/').next().unwrap().to_string();
    let r = app
        .get(&format!("/api/v1/public/share/{token}/document.pdf"), None)
        .await;
    let (text, _) = pdf_text(&app, &r).await;
    assert!(text.contains(&number));
    // As the customer's view: the plate masked but for its last 3.
    assert!(!text.contains(&plate), "{text}");
    assert!(text.contains(&plate[plate.len() - 3..]));
}

#[tokio::test]
async fn an_estimate_pdf_is_in_the_organizations_language_and_format() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    app.patch(
        "/api/v1/organization",
        Some(&owner),
        json!({ "settings": { "locale": "de-DE", "timezone": "Europe/Berlin" } }),
    )
    .await;
    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &owner, &vehicle, json!({})).await.str("id");
    let r = add_line(
        &app,
        &owner,
        &order,
        json!({ "type": "LABOR", "description": "Bremsen prüfen", "quantity": 150, "unitPrice": 123_400, "taxRate": 1900 }),
    )
    .await;
    let total = r.body["total"].as_i64().unwrap();
    let r = app
        .get(
            &format!("/api/v1/work-orders/{order}/estimate.pdf"),
            Some(&owner),
        )
        .await;
    let (text, _) = pdf_text(&app, &r).await;
    assert!(text.contains("Kostenvoranschlag"), "{text}");
    assert!(text.contains("Bremsen prüfen"));
    assert!(text.contains("1,5 h"), "{text}");
    let german = money(total)
        .replace(',', "_")
        .replace('.', ",")
        .replace('_', ".");
    assert!(text.contains(&german), "{german} in {text}");
    assert!(text.contains("Seite 1 von 1"));
    // Another organization cannot have it made.
    let other = app.other().await.clone();
    app.get(
        &format!("/api/v1/work-orders/{order}/estimate.pdf"),
        Some(&other),
    )
    .await
    .assert_problem(404, "NOT_FOUND");
}

/// The sizes (width x height in pixels) of the images in `pdf`, as
/// poppler's `pdfimages -list` reports them.
fn images(pdf: &[u8]) -> Vec<(u32, u32)> {
    let dir = std::env::temp_dir().join(format!("crm-pdf-{}", bson::oid::ObjectId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let tool = std::env::var("PDFTOTEXT")
        .map(|t| t.replace("pdftotext", "pdfimages"))
        .unwrap_or_else(|_| "pdfimages".into());
    let out = std::process::Command::new(tool)
        .args(["-list", file.to_str().unwrap()])
        .output()
        .expect("pdfimages (poppler-utils) runs");
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Some((cols.get(3)?.parse().ok()?, cols.get(4)?.parse().ok()?))
        })
        .collect()
}

/// Uploads `bytes` as an image document of `content_type`; its id.
async fn upload_image(app: &TestApp, owner: &Actor, content_type: &str, bytes: Vec<u8>) -> String {
    let r = app
        .request_upload(owner, "logo", content_type, bytes.len())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (status, text) = app.put_presigned(&r.body, bytes).await;
    assert_eq!(status, 200, "{text}");
    let id = r.str("documentId");
    assert_eq!(app.complete(owner, &id).await.status, 200);
    id
}

#[tokio::test]
async fn the_shops_logo_from_its_own_documents_is_printed_and_a_broken_one_is_left_out() {
    let app = TestApp::spawn().await;
    let owner = app.owner().await.clone();
    let (_, vehicle) = customer(&app, &owner).await;
    let order = open(&app, &owner, &vehicle, json!({})).await.str("id");
    add_line(
        &app,
        &owner,
        &order,
        json!({ "type": "LABOR", "description": "Inspection", "quantity": 100, "unitPrice": 9000, "taxRate": 1900 }),
    )
    .await;
    let path = format!("/api/v1/work-orders/{order}/estimate.pdf");
    let (_, pdf) = pdf_text(&app, &app.get(&path, Some(&owner)).await).await;
    assert!(images(&pdf).is_empty(), "no logo set, no image");

    // Only an uploaded PNG or JPEG of at most 1 MiB may be the logo.
    let text = upload_image(&app, &owner, "application/pdf", b"%PDF-1.4".to_vec()).await;
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "logoDocumentId": text } }),
        )
        .await;
    r.assert_problem(422, "VALIDATION_FAILED");
    assert_eq!(r.error_fields(), ["settings.logoDocumentId"]);
    let other = app.other().await.clone();
    let theirs = upload_image(
        &app,
        &other,
        "image/png",
        functions::maintenance::seed::demo_png(8, 8, [0, 0, 0]),
    )
    .await;
    app.patch(
        "/api/v1/organization",
        Some(&owner),
        json!({ "settings": { "logoDocumentId": theirs } }),
    )
    .await
    .assert_problem(422, "VALIDATION_FAILED");

    let logo = upload_image(
        &app,
        &owner,
        "image/png",
        functions::maintenance::seed::demo_png(120, 40, [200, 30, 30]),
    )
    .await;
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "logoDocumentId": logo } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["settings"]["logoDocumentId"], logo.as_str());
    let (text, pdf) = pdf_text(&app, &app.get(&path, Some(&owner)).await).await;
    assert_eq!(images(&pdf), [(120, 40)], "the logo, at its own pixels");
    assert!(text.contains("Inspection"));

    // A PNG whose header claims 100,000 pixels a side (its checksum
    // right): refused before anything is decoded, the document is made
    // without it.
    let mut huge = functions::maintenance::seed::demo_png(4, 4, [0, 0, 0]);
    huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = shared::apikey::crc32(&huge[12..29]);
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    let bomb = upload_image(&app, &owner, "image/png", huge).await;
    app.patch(
        "/api/v1/organization",
        Some(&owner),
        json!({ "settings": { "logoDocumentId": bomb } }),
    )
    .await;
    let (text, pdf) = pdf_text(&app, &app.get(&path, Some(&owner)).await).await;
    assert!(images(&pdf).is_empty());
    assert!(text.contains("Inspection"));

    // A file that is no image under an image's type: the document is made
    // without it.
    let broken = upload_image(&app, &owner, "image/png", file_bytes(300)).await;
    app.patch(
        "/api/v1/organization",
        Some(&owner),
        json!({ "settings": { "logoDocumentId": broken } }),
    )
    .await;
    let (text, pdf) = pdf_text(&app, &app.get(&path, Some(&owner)).await).await;
    assert!(images(&pdf).is_empty());
    assert!(text.contains("Inspection"));

    // A deleted logo document is no longer printed.
    app.patch(
        "/api/v1/organization",
        Some(&owner),
        json!({ "settings": { "logoDocumentId": logo } }),
    )
    .await;
    let (_, pdf) = pdf_text(&app, &app.get(&path, Some(&owner)).await).await;
    assert_eq!(images(&pdf).len(), 1);
    let r = app
        .delete(&format!("/api/v1/documents/{logo}"), Some(&owner))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (_, pdf) = pdf_text(&app, &app.get(&path, Some(&owner)).await).await;
    assert!(images(&pdf).is_empty(), "a deleted logo is not printed");

    // Cleared with null.
    let r = app
        .patch(
            "/api/v1/organization",
            Some(&owner),
            json!({ "settings": { "logoDocumentId": null } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["settings"].get("logoDocumentId").is_none());
}
