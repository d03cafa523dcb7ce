//! Where the expression comes from: the words after the options, or `-F FILE`, read as
//! tcpdump 4.99.3 reads it (`read_infile()`): `#` starts a comment that runs to the end of the
//! line, the text ends at a NUL byte, and the words on the command line are then ignored.

use std::{io::Read as _, path::PathBuf};

use super::FilterError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpressionSource {
    /// The words after the options, joined by single spaces (tcpdump's `copy_argv()`).
    Words(Vec<String>),
    /// `-F FILE`.
    File(PathBuf),
}

impl ExpressionSource {
    /// `-F` when given, the words otherwise.
    pub fn new(file: Option<PathBuf>, words: &[String]) -> ExpressionSource {
        match file {
            Some(path) => ExpressionSource::File(path),
            None => ExpressionSource::Words(words.to_vec()),
        }
    }

    /// The expression; None when there is none or it is blank (no filter: every packet).
    pub fn text(&self) -> Result<Option<String>, FilterError> {
        let text = match self {
            ExpressionSource::Words(words) => words.join(" "),
            ExpressionSource::File(path) => strip_comments(&read(path)?),
        };
        Ok((!text.trim().is_empty()).then_some(text))
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, FilterError> {
    let mut file = std::fs::File::open(path).map_err(|error| FilterError::File {
        path: path.clone(),
        error,
    })?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|error| FilterError::FileRead {
        path: path.clone(),
        error,
    })?;
    Ok(bytes)
}

/// The text up to the first NUL, each `#` to the end of its line blanked out.
fn strip_comments(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut out = bytes[..end].to_vec();
    let mut in_comment = false;
    for b in &mut out {
        match *b {
            b'\n' => in_comment = false,
            b'#' => {
                in_comment = true;
                *b = b' ';
            }
            _ if in_comment => *b = b' ',
            _ => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// "No such file or directory", without Rust's " (os error 2)".
pub(super) fn os_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_join_with_spaces() {
        let w = |v: &[&str]| ExpressionSource::Words(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            w(&["tcp", "port", "80"]).text().unwrap().as_deref(),
            Some("tcp port 80")
        );
        assert_eq!(
            w(&["tcp and", "port 80"]).text().unwrap().as_deref(),
            Some("tcp and port 80")
        );
        assert_eq!(w(&[]).text().unwrap(), None);
        assert_eq!(w(&["", " "]).text().unwrap(), None);
    }

    #[test]
    fn files_as_tcpdump_reads_them() {
        assert_eq!(
            strip_comments(b"udp # no tcp\nand port 53#x"),
            "udp         \nand port 53  "
        );
        assert_eq!(strip_comments(b"tcp\0 and udp"), "tcp");
        let dir = std::env::temp_dir().join(format!("tracer-filter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("expr");
        std::fs::write(&f, "# only a comment\n\n").unwrap();
        let src = ExpressionSource::new(Some(f.clone()), &["ignored".into()]);
        assert_eq!(src.text().unwrap(), None);
        std::fs::write(&f, "icmp # pings\n or arp\n").unwrap();
        assert_eq!(src.text().unwrap().as_deref(), Some("icmp        \n or arp\n"));
        let missing = ExpressionSource::File(dir.join("missing"));
        assert_eq!(
            missing.text().unwrap_err().to_string(),
            format!(
                "can't open {}: No such file or directory",
                dir.join("missing").display()
            )
        );
        assert_eq!(
            ExpressionSource::File(dir.clone()).text().unwrap_err().to_string(),
            format!("read {}: Is a directory", dir.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
