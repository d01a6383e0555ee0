//! Reading the origin's email outbox as a buyer would: the `.eml` files, quoted-printable
//! decoded, and the download links in them.

use std::path::Path;

/// The emails in `dir` (sorted by file name), decoded; none when the folder does not exist yet.
pub fn read_outbox(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .map(|entry| entry.expect("read the outbox folder").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| quoted_printable_text(&std::fs::read_to_string(path).expect("read an email")))
        .collect()
}

/// An email as a buyer reads it: quoted-printable soft line breaks joined and `=XX` decoded.
pub fn quoted_printable_text(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let mut rest = joined.as_str();
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let hex = rest
            .get(at + 1..at + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) if byte.is_ascii() => {
                out.push(char::from(byte));
                rest = &rest[at + 3..];
            }
            _ => {
                out.push('=');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `/d/{token}` paths in an email.
pub fn download_paths(email: &str) -> Vec<String> {
    email
        .split_whitespace()
        .filter_map(|word| word.find("/d/").map(|at| word[at..].to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_breaks_and_escapes_are_decoded() {
        let raw = "Link: http://x/d/dl_1.ab=\r\ncd\r\nA =3D B\r\n";
        let text = quoted_printable_text(raw);
        assert_eq!(text, "Link: http://x/d/dl_1.abcd\r\nA = B\r\n");
        assert_eq!(download_paths(&text), ["/d/dl_1.abcd"]);
    }
}
