//! `deploy-files`: writes, from the route table, every route's binary under
//! `functions/api/`, the `[[bin]]` section of `functions/Cargo.toml`,
//! `template.yaml`, `functions/vercel.json` and the OpenAPI document
//! `functions/openapi.json` (run it after changing a context's `routes.rs`
//! or a route's contract).

use functions::deploy;

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let functions = root.join("functions");
    for route in functions::routes::ROUTES.iter() {
        let path = functions.join(deploy::entrypoint(route));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, deploy::binary_source(route))?;
    }
    let manifest = std::fs::read_to_string(functions.join("Cargo.toml"))?;
    let manifest = deploy::with_bin_section(&manifest).ok_or_else(|| {
        std::io::Error::other("functions/Cargo.toml has no [[bin]] or [dependencies] section")
    })?;
    std::fs::write(functions.join("Cargo.toml"), manifest)?;
    std::fs::write(root.join("template.yaml"), deploy::template_yaml())?;
    let vercel = serde_json::to_string_pretty(&deploy::vercel_json())?;
    std::fs::write(functions.join("vercel.json"), vercel + "\n")?;
    let openapi = functions::service::docs::document(&functions::routes::ROUTES)
        .map_err(std::io::Error::other)?;
    std::fs::write(
        functions.join("openapi.json"),
        serde_json::to_string_pretty(&openapi)? + "\n",
    )?;
    println!(
        "wrote {} function binaries, functions/Cargo.toml [[bin]], template.yaml, functions/vercel.json and functions/openapi.json",
        functions::routes::ROUTES.len()
    );
    Ok(())
}
