//! `deploy-files`: writes `template.yaml` and `functions/vercel.json` from
//! the route table (run it after changing `functions/src/routes.rs`).

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::write(
        root.join("template.yaml"),
        functions::deploy::template_yaml(),
    )?;
    let vercel = serde_json::to_string_pretty(&functions::deploy::vercel_json())?;
    std::fs::write(root.join("functions/vercel.json"), vercel + "\n")?;
    println!("wrote template.yaml and functions/vercel.json");
    Ok(())
}
