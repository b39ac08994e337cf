//! The PDF benchmark (`scripts/bench.sh pdf`): the size of the function
//! that renders invoices beside one that does not, the first render in a
//! fresh process (fonts parsed, nothing warm: what a cold start adds) and
//! the warm render time of a 3-page invoice, with its size. Fixed input, so
//! every render must give the same bytes (checked).

use std::process::Command;
use std::time::Instant;

/// Rows that make a 3-page invoice.
const ROWS: usize = 100;

fn pages(pdf: &[u8]) -> usize {
    pdf.windows(b"/Type /Page\n".len())
        .filter(|w| *w == b"/Type /Page\n")
        .count()
        .max(
            pdf.windows(b"/Type/Page/".len())
                .filter(|w| *w == b"/Type/Page/")
                .count(),
        )
}

fn main() {
    if std::env::args().any(|a| a == "--once") {
        let t = Instant::now();
        let pdf = functions::workshop::printouts::render_fixed(ROWS).expect("a PDF");
        println!("{} {}", t.elapsed().as_micros(), pdf.len());
        return;
    }
    let release = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release");
    println!("| binary | size |\n|---|---|");
    for bin in ["work-orders-id-invoice-pdf", "work-orders-id-invoice"] {
        match std::fs::metadata(release.join(bin)) {
            Ok(m) => println!("| `{bin}` | {:.1} MiB |", m.len() as f64 / 1_048_576.0),
            Err(_) => println!("| `{bin}` | not built |"),
        }
    }
    let me = std::env::current_exe().expect("this binary");
    let mut cold: Vec<u128> = (0..10)
        .map(|_| {
            let out = Command::new(&me).arg("--once").output().expect("a run");
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a time")
        })
        .collect();
    cold.sort_unstable();
    let first = functions::workshop::printouts::render_fixed(ROWS).expect("a PDF");
    let mut warm: Vec<u128> = (0..50)
        .map(|_| {
            let t = Instant::now();
            let pdf = functions::workshop::printouts::render_fixed(ROWS).expect("a PDF");
            assert_eq!(pdf, first, "fixed input gives the same bytes");
            t.elapsed().as_micros()
        })
        .collect();
    warm.sort_unstable();
    let ms = |us: u128| us as f64 / 1000.0;
    println!(
        "\n| render ({} pages, {} rows, {:.0} KiB) | p50 | max |\n|---|---|---|",
        pages(&first),
        ROWS,
        first.len() as f64 / 1024.0
    );
    println!(
        "| first render in a fresh process (10 runs) | {:.1} ms | {:.1} ms |",
        ms(cold[cold.len() / 2]),
        ms(cold[cold.len() - 1])
    );
    println!(
        "| warm render (50 runs) | {:.1} ms | {:.1} ms |",
        ms(warm[warm.len() / 2]),
        ms(warm[warm.len() - 1])
    );
}
