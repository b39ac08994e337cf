//! Estimate and invoice PDFs: a small layout of our own on krilla (PDF
//! writing, font subsetting and shaping), with DejaVu Sans embedded
//! (`functions/fonts`, its licence beside it). No template language: every
//! value is drawn as text, so data never becomes markup or code.
//!
//! A [`Sheet`] is laid out onto A4 pages: the shop's block, the title and
//! number, the customer and vehicle, a table of lines whose header repeats
//! on every page (descriptions wrapped to their column), the totals, and a
//! footer with the legal text and "Page N of M" on every page. Fixed input
//! gives the same bytes (no time or random id is written).

use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use krilla::Document;

const REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");

/// A4 in points, and the margins.
const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;
const SIZE: f32 = 9.5;
const LEADING: f32 = 13.0;
/// The most lines the footer takes (the page's body ends above them).
const MAX_FOOTER_LINES: usize = 12;

/// One line of the table, its values already formatted.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub tax: String,
    pub amount: String,
}

/// What a document shows, every value already formatted for its locale.
#[derive(Clone, Debug, Default)]
pub struct Sheet {
    /// "Estimate" or "Invoice".
    pub title: String,
    /// The document's number and date, e.g. `("INV-000001", "04.12.2026")`.
    pub number: Option<String>,
    pub date: String,
    /// The shop: its name first, then address lines, tax id.
    pub shop: Vec<String>,
    /// The customer's lines, then the vehicle's.
    pub customer: Vec<String>,
    pub vehicle: Vec<String>,
    /// Column headings: description, quantity, unit price, tax, amount.
    pub headings: [String; 5],
    pub rows: Vec<Row>,
    /// Label and amount: subtotal, tax, total, then payments and balance.
    pub totals: Vec<(String, String)>,
    /// The footer's text (legal text, bank details), wrapped.
    pub footer: String,
    /// "Page {n} of {m}" in the document's language.
    pub page_label: String,
    /// Which logo the shop prints (its document's id), if any: part of
    /// what the document shows, its bytes given to [`render`].
    pub logo: Option<String>,
}

/// The largest logo drawn, in points: it keeps its proportions inside.
const LOGO_BOX: (f32, f32) = (160.0, 56.0);
/// A logo with more pixels on a side than this is not drawn: decoding
/// takes up to 8 bytes a pixel (16-bit RGBA), 32 MiB at this size.
const LOGO_MAX_PIXELS: u32 = 2048;

/// The image in `bytes` (PNG or JPEG) and the size it is drawn at, or
/// `None` for anything else.
fn logo_image(bytes: &[u8]) -> Option<(krilla::image::Image, f32, f32)> {
    let data: krilla::Data = bytes.to_vec().into();
    let image = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        // krilla decodes a PNG whole as it opens it, into a buffer the
        // header's size asks for: the header is checked first.
        let side = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        if bytes.get(12..16) != Some(b"IHDR") {
            return None;
        }
        let (w, h) = (side(16)?, side(20)?);
        if w == 0 || h == 0 || w > LOGO_MAX_PIXELS || h > LOGO_MAX_PIXELS {
            return None;
        }
        krilla::image::Image::from_png(data, true).ok()?
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        krilla::image::Image::from_jpeg(data, true).ok()?
    } else {
        return None;
    };
    let (w, h) = image.size();
    if w == 0 || h == 0 || w > LOGO_MAX_PIXELS || h > LOGO_MAX_PIXELS {
        return None;
    }
    let scale = (LOGO_BOX.0 / w as f32).min(LOGO_BOX.1 / h as f32);
    Some((image, w as f32 * scale, h as f32 * scale))
}

/// Text measured in one font.
struct Measure<'a> {
    face: ttf_parser::Face<'a>,
}

impl Measure<'_> {
    fn width(&self, text: &str, size: f32) -> f32 {
        let per_unit = size / f32::from(self.face.units_per_em());
        text.chars()
            .map(|c| {
                self.face
                    .glyph_index(c)
                    .and_then(|g| self.face.glyph_hor_advance(g))
                    .unwrap_or(self.face.units_per_em() / 2)
            })
            .map(|a| f32::from(a) * per_unit)
            .sum()
    }

    /// `text` broken into lines at most `width` wide (at spaces, or inside
    /// a word longer than a line).
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = vec![];
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // A word longer than the line is cut where it must be.
                let mut piece = String::new();
                for c in word.chars() {
                    piece.push(c);
                    if self.width(&piece, size) > width && piece.chars().count() > 1 {
                        piece.pop();
                        lines.push(std::mem::take(&mut piece));
                        piece.push(c);
                    }
                }
                line = piece;
            }
            lines.push(line);
        }
        lines
    }
}

/// What is drawn: text (regular or bold, left or right aligned at `x`)
/// and horizontal rules.
enum Mark {
    Text {
        x: f32,
        y: f32,
        text: String,
        bold: bool,
        right: bool,
        size: f32,
    },
    Rule {
        y: f32,
    },
}

/// The table's columns: where descriptions wrap, and the right edge of
/// each number's column (right-aligned): quantity, unit price, tax, amount.
const DESCRIPTION_WIDTH: f32 = 190.0;
const RIGHTS: [f32; 4] = [290.0, 390.0, 435.0, WIDTH - MARGIN];

/// Lays `sheet` out: the marks of each page; `logo_height` is the room the
/// logo takes above the shop's block.
fn layout(sheet: &Sheet, m: &Measure, logo_height: f32) -> Vec<Vec<Mark>> {
    let mut pages: Vec<Vec<Mark>> = vec![vec![]];
    let text = |x: f32, y: f32, t: &str, bold: bool, right: bool, size: f32| Mark::Text {
        x,
        y,
        text: t.to_string(),
        bold,
        right,
        size,
    };
    // The footer (legal text, bank details) in full, up to 12 lines: the
    // page's body ends above it.
    let footer: Vec<String> = m
        .wrap(&sheet.footer, 7.5, WIDTH - 2.0 * MARGIN - 90.0)
        .into_iter()
        .take(MAX_FOOTER_LINES)
        .collect();
    let footer_top = HEIGHT - 40.0 - 10.0 * footer.len().max(1) as f32;
    let bottom = footer_top - 10.0;
    let mut y = if logo_height > 0.0 {
        MARGIN + logo_height + 10.0
    } else {
        MARGIN
    };
    // The shop, left (wrapped to half the page, at most 8 lines); the
    // title, number and date, right.
    let half = WIDTH / 2.0 - MARGIN;
    for (i, line) in sheet.shop.iter().take(8).enumerate() {
        let size = if i == 0 { 14.0 } else { SIZE };
        for part in m.wrap(line, size, half).into_iter().take(2) {
            pages[0].push(text(MARGIN, y + size, &part, i == 0, false, size));
            y += if i == 0 { 20.0 } else { LEADING };
        }
    }
    let mut right_y = MARGIN + 14.0;
    pages[0].push(text(
        WIDTH - MARGIN,
        right_y,
        &sheet.title,
        true,
        true,
        16.0,
    ));
    right_y += 20.0;
    if let Some(n) = &sheet.number {
        pages[0].push(text(WIDTH - MARGIN, right_y, n, false, true, SIZE));
        right_y += LEADING;
    }
    pages[0].push(text(
        WIDTH - MARGIN,
        right_y,
        &sheet.date,
        false,
        true,
        SIZE,
    ));
    y = y.max(right_y) + 24.0;
    // The customer and the vehicle, side by side, each wrapped to its half.
    let block_top = y;
    let block = |lines: &[String], x: f32, mut y: f32, page: &mut Vec<Mark>| -> f32 {
        for (i, line) in lines.iter().take(6).enumerate() {
            for part in m.wrap(line, SIZE, half - 10.0).into_iter().take(2) {
                page.push(text(x, y + SIZE, &part, i == 0, false, SIZE));
                y += LEADING;
            }
        }
        y
    };
    let left = block(&sheet.customer, MARGIN, block_top, &mut pages[0]);
    let right = block(&sheet.vehicle, WIDTH / 2.0, block_top, &mut pages[0]);
    y = left.max(right) + 20.0;
    // The table, its header on every page.
    let header = |page: &mut Vec<Mark>, y: f32| -> f32 {
        let h = &sheet.headings;
        page.push(text(MARGIN, y + SIZE, &h[0], true, false, SIZE));
        for (heading, right) in h.iter().skip(1).zip(RIGHTS) {
            page.push(text(right, y + SIZE, heading, true, true, SIZE));
        }
        page.push(Mark::Rule {
            y: y + LEADING + 1.0,
        });
        y + LEADING + 6.0
    };
    y = header(pages.last_mut().expect("a page"), y);
    for row in &sheet.rows {
        let lines = m.wrap(&row.description, SIZE, DESCRIPTION_WIDTH);
        let height = LEADING * lines.len().max(1) as f32 + 3.0;
        if y + height > bottom {
            pages.push(vec![]);
            y = header(pages.last_mut().expect("a page"), MARGIN);
        }
        let page = pages.last_mut().expect("a page");
        for (i, l) in lines.iter().enumerate() {
            let line_y = y + SIZE + LEADING * i as f32;
            page.push(text(MARGIN, line_y, l, false, false, SIZE));
        }
        let values = [&row.quantity, &row.unit_price, &row.tax, &row.amount];
        for (v, right) in values.into_iter().zip(RIGHTS) {
            page.push(text(right, y + SIZE, v, false, true, SIZE));
        }
        y += height;
    }
    // The totals: subtotal, tax and total kept together; payments and the
    // balance continue on the next page when they must.
    let together = LEADING * sheet.totals.len().min(3) as f32 + 16.0;
    if y + together > bottom {
        // Every page after the first opens with the table's header.
        pages.push(vec![]);
        y = header(pages.last_mut().expect("a page"), MARGIN);
    }
    pages
        .last_mut()
        .expect("a page")
        .push(Mark::Rule { y: y + 2.0 });
    y += 10.0;
    for (i, (label, value)) in sheet.totals.iter().enumerate() {
        if y + LEADING > bottom {
            pages.push(vec![]);
            y = header(pages.last_mut().expect("a page"), MARGIN);
        }
        let page = pages.last_mut().expect("a page");
        let bold = i == 2;
        page.push(text(RIGHTS[2], y + SIZE, label, bold, true, SIZE));
        page.push(text(RIGHTS[3], y + SIZE, value, bold, true, SIZE));
        y += LEADING;
    }
    // The footer of every page, with its number.
    let total = pages.len();
    for (n, page) in pages.iter_mut().enumerate() {
        page.push(Mark::Rule { y: footer_top });
        for (i, l) in footer.iter().enumerate() {
            let line_y = footer_top + 12.0 + 10.0 * i as f32;
            page.push(text(MARGIN, line_y, l, false, false, 7.5));
        }
        let label = sheet
            .page_label
            .replace("{n}", &(n + 1).to_string())
            .replace("{m}", &total.to_string());
        page.push(text(
            WIDTH - MARGIN,
            footer_top + 12.0,
            &label,
            false,
            true,
            7.5,
        ));
    }
    pages
}

/// Whether `c` is written right to left (Hebrew, Arabic and their
/// presentation forms).
fn is_rtl(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

/// `text` cut into runs of one direction (a base left-to-right line):
/// spaces, digits and punctuation stay with the run they are in.
fn runs(text: &str) -> Vec<(&str, bool)> {
    let mut out = vec![];
    let (mut start, mut rtl) = (0, None::<bool>);
    for (i, c) in text.char_indices() {
        let strong = if is_rtl(c) {
            Some(true)
        } else if c.is_alphabetic() {
            Some(false)
        } else {
            None
        };
        match (rtl, strong) {
            (None, Some(d)) => rtl = Some(d),
            (Some(cur), Some(d)) if cur != d => {
                out.push((&text[start..i], cur));
                start = i;
                rtl = Some(d);
            }
            _ => {}
        }
    }
    out.push((&text[start..], rtl.unwrap_or(false)));
    out
}

/// The PDF of `sheet`, with `logo` (the bytes of a PNG or JPEG) at the top
/// of the first page; a logo that is no such image is left out.
pub fn render(sheet: &Sheet, logo: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let face = ttf_parser::Face::parse(REGULAR, 0).map_err(|e| e.to_string())?;
    let bold_face = ttf_parser::Face::parse(BOLD, 0).map_err(|e| e.to_string())?;
    let (m, mb) = (Measure { face }, Measure { face: bold_face });
    let regular = Font::new(REGULAR.to_vec().into(), 0).ok_or("the regular font does not load")?;
    let bold = Font::new(BOLD.to_vec().into(), 0).ok_or("the bold font does not load")?;
    let mut doc = Document::new();
    let settings = PageSettings::from_wh(WIDTH, HEIGHT).ok_or("page size")?;
    let mut logo = logo.and_then(logo_image);
    let logo_height = logo.as_ref().map_or(0.0, |(_, _, h)| *h);
    for marks in layout(sheet, &m, logo_height) {
        let mut page = doc.start_page_with(settings.clone());
        let mut surface = page.surface();
        if let Some((image, w, h)) = logo.take() {
            if let Some(size) = krilla::geom::Size::from_wh(w, h) {
                surface.push_transform(&krilla::geom::Transform::from_translate(MARGIN, MARGIN));
                surface.draw_image(image, size);
                surface.pop();
            }
        }
        for mark in marks {
            match mark {
                Mark::Text {
                    x,
                    y,
                    text,
                    bold: is_bold,
                    right,
                    size,
                } => {
                    if text.is_empty() {
                        continue;
                    }
                    let (font, measure) = if is_bold {
                        (&bold, &mb)
                    } else {
                        (&regular, &m)
                    };
                    let mut x = if right {
                        x - measure.width(&text, size)
                    } else {
                        x
                    };
                    // Left to right, each right-to-left run (Hebrew, Arabic)
                    // shaped in its own direction.
                    for (run, rtl) in runs(&text) {
                        let direction = if rtl {
                            TextDirection::RightToLeft
                        } else {
                            TextDirection::LeftToRight
                        };
                        surface.draw_text(
                            Point::from_xy(x, y),
                            font.clone(),
                            size,
                            run,
                            false,
                            direction,
                        );
                        x += measure.width(run, size);
                    }
                }
                Mark::Rule { y } => {
                    let mut path = PathBuilder::new();
                    if let Some(r) = Rect::from_xywh(MARGIN, y, WIDTH - 2.0 * MARGIN, 0.6) {
                        path.push_rect(r);
                    }
                    if let Some(p) = path.finish() {
                        surface.draw_path(&p);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(rows: usize) -> Sheet {
        Sheet {
            title: "Invoice".into(),
            number: Some("INV-000042".into()),
            date: "2026-12-04".into(),
            shop: vec!["Demo Workshop".into(), "Hauptstr. 1, Berlin".into()],
            customer: vec!["Müller <Logistik> #1 $".into()],
            vehicle: vec!["Skoda Octavia".into()],
            headings: ["Description", "Qty", "Unit price", "Tax", "Amount"].map(String::from),
            rows: (0..rows)
                .map(|i| Row {
                    description: format!("Line {i} brake pads front axle"),
                    quantity: "1".into(),
                    unit_price: "10.00".into(),
                    tax: "19%".into(),
                    amount: "10.00".into(),
                })
                .collect(),
            totals: vec![("Total".into(), "10.00".into())],
            footer: "Legal text".into(),
            page_label: "Page {n} of {m}".into(),
            logo: None,
        }
    }

    #[test]
    fn fixed_input_gives_the_same_bytes_and_long_tables_break_into_pages() {
        let a = render(&sheet(3), None).unwrap();
        assert_eq!(a, render(&sheet(3), None).unwrap());
        assert!(a.starts_with(b"%PDF-"));
        let m = Measure {
            face: ttf_parser::Face::parse(REGULAR, 0).unwrap(),
        };
        assert_eq!(layout(&sheet(1), &m, 0.0).len(), 1);
        assert!(layout(&sheet(40), &m, 0.0).len() >= 2);
        assert!(layout(&sheet(250), &m, 0.0).len() >= 6);
    }

    #[test]
    fn mixed_text_is_cut_into_runs_of_one_direction() {
        assert_eq!(
            runs("Brake שלום עולם pads"),
            vec![("Brake ", false), ("שלום עולם ", true), ("pads", false)]
        );
        assert_eq!(runs("<#$> 42"), vec![("<#$> 42", false)]);
    }

    #[test]
    fn a_long_word_is_cut_to_its_column() {
        let m = Measure {
            face: ttf_parser::Face::parse(REGULAR, 0).unwrap(),
        };
        let lines = m.wrap(&"x".repeat(300), SIZE, 100.0);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| m.width(l, SIZE) <= 100.0));
    }
}
