//! Text protocols over TCP (util-print.c txtproto_print()): HTTP (print-http.c), RTSP,
//! SMTP, FTP and whois.

use super::out::Out;
use super::{PResult, Printer, Trunc};

/// httpcmds: request methods, WebDAV included.
const METHODS: [&str; 38] = [
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UNLOCK",
    "REPORT",
    "UPDATE",
    "NOTIFY",
    "BDELETE",
    "CONNECT",
    "OPTIONS",
    "CHECKIN",
    "PROPFIND",
    "CHECKOUT",
    "CCM_POST",
    "SUBSCRIBE",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UNSUBSCRIBE",
    "RPC_CONNECT",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
];

/// rtspcmds.
const RTSP_METHODS: [&str; 11] = [
    "DESCRIBE",
    "ANNOUNCE",
    "GET_PARAMETER",
    "OPTIONS",
    "PAUSE",
    "PLAY",
    "RECORD",
    "REDIRECT",
    "SETUP",
    "SET_PARAMETER",
    "TEARDOWN",
];

const MAX_TOKEN: usize = 128;

fn is_print(c: u8) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// fetch_token(): the token at `idx` and the index after the blanks that follow it, or None.
fn fetch_token(data: &[u8], mut idx: usize, len: usize) -> Option<(usize, usize, usize)> {
    let start = idx;
    while idx < len {
        let c = *data.get(idx)?;
        if !c.is_ascii() {
            return None;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            break;
        }
        if !is_print(c) {
            return None;
        }
        if idx - start + 2 > MAX_TOKEN + 1 {
            return None;
        }
        idx += 1;
    }
    let end = idx;
    if end == start {
        return None;
    }
    while idx < len {
        let Some(&c) = data.get(idx) else { break };
        if c == b'\r' || c == b'\n' || !is_print(c) {
            break;
        }
        if !matches!(c, b' ' | b'\t') {
            break;
        }
        idx += 1;
    }
    Some((start, end, idx))
}

impl Printer {
    /// http_print(): `HTTP`, then for requests and responses `: ` and the first line, or with
    /// -v `, length: N` and every line of text, each on a line of its own.
    pub(super) fn http(&mut self, out: &mut Vec<u8>, data: &[u8], len: usize) -> PResult {
        self.proto = "http";
        self.txtproto(out, data, len, "HTTP", Some(&METHODS))
    }

    /// rtsp_print(): as HTTP, with RTSP's methods.
    pub(super) fn rtsp(&mut self, out: &mut Vec<u8>, data: &[u8], len: usize) -> PResult {
        self.proto = "rtsp";
        self.txtproto(out, data, len, "RTSP", Some(&RTSP_METHODS))
    }

    /// smtp_print(), ftp_print() and tcp_print()'s whois case: text protocols whose every
    /// payload is printed (`name` is the protocol in capitals).
    pub(super) fn text_protocol(&mut self, out: &mut Vec<u8>, data: &[u8], len: usize, name: &'static str) -> PResult {
        self.proto = match name {
            "SMTP" => "smtp",
            "FTP" => "ftp",
            _ => "whois",
        };
        self.txtproto(out, data, len, name, None)
    }

    /// txtproto_print(): with a command list, only payloads that start with a command or
    /// whose second token is a 3-digit response code are printed.
    fn txtproto(&mut self, out: &mut Vec<u8>, data: &[u8], len: usize, name: &str, cmds: Option<&[&str]>) -> PResult {
        let mut print_this = cmds.is_none();
        if let (Some(cmds), Some((s, e, next))) = (cmds, fetch_token(data, 0, len)) {
            let tok = &data[s..e];
            if cmds.iter().any(|m| m.as_bytes().eq_ignore_ascii_case(tok)) {
                print_this = true;
            }
            if let Some((s, e, _)) = fetch_token(data, next, len) {
                let t = &data[s..e];
                if t.len() == 3 && t.iter().all(|c| c.is_ascii_digit()) {
                    print_this = true;
                }
            }
        }
        out.s(name);
        if !print_this {
            return Ok(());
        }
        if self.opts.verbose > 0 {
            // Verbose: every line, each on its own tab-indented line.
            out.s(", length: ");
            out.u(len as u64);
            let mut idx = 0;
            while idx < len {
                match self.txt_line(out, "\n\t", data, idx, len)? {
                    0 => break,
                    eol => idx = eol,
                }
            }
        } else {
            self.txt_line(out, ": ", data, 0, len)?;
        }
        Ok(())
    }

    /// print_txt_line(): one CRLF- or LF-terminated printable line; returns the index after it,
    /// or 0 when the line is binary or unterminated.
    fn txt_line(
        &mut self,
        out: &mut Vec<u8>,
        prefix: &str,
        data: &[u8],
        start: usize,
        len: usize,
    ) -> Result<usize, Trunc> {
        let mut idx = start;
        while idx < len {
            let c = *data.get(idx).ok_or(Trunc)?;
            if c == b'\n' {
                out.s(prefix);
                out.b(&data[start..idx]);
                return Ok(idx + 1);
            } else if c == b'\r' {
                if idx + 1 >= len {
                    return Ok(0);
                }
                if *data.get(idx + 1).ok_or(Trunc)? == b'\n' {
                    out.s(prefix);
                    out.b(&data[start..idx]);
                    return Ok(idx + 2);
                }
                return Ok(0);
            } else if !is_print(c) && c != b'\t' {
                return Ok(0);
            }
            idx += 1;
        }
        // All printable but no line end: nd_print_trunc() and return (no longjmp).
        out.s(prefix);
        out.b(&data[start..idx]);
        self.trunc_here(out);
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::printer;

    fn http(payload: &[u8], len: usize) -> String {
        let mut p = printer();
        let mut out = Vec::new();
        let _ = p.http(&mut out, payload, len);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn request_response_and_body() {
        assert_eq!(http(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27), "HTTP: GET / HTTP/1.1");
        assert_eq!(http(b"HTTP/1.0 200 OK\r\n", 17), "HTTP: HTTP/1.0 200 OK");
        assert_eq!(http(b"<html>\n", 7), "HTTP");
        assert_eq!(http(b"get /x", 6), "HTTP: get /x [|http]");
        assert_eq!(http(b"POST /\r", 7), "HTTP");
    }

    #[test]
    fn text_protocols_and_verbose_lines() {
        let mut p = printer();
        let mut out = Vec::new();
        let _ = p.text_protocol(&mut out, b"220 mail ESMTP\r\n", 16, "SMTP");
        assert_eq!(out, b"SMTP: 220 mail ESMTP");
        out.clear();
        let _ = p.rtsp(&mut out, b"EHLO x\r\n", 8);
        assert_eq!(out, b"RTSP");
        p.opts.verbose = 1;
        out.clear();
        let _ = p.http(&mut out, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
        assert_eq!(out, b"HTTP, length: 27\n\tGET / HTTP/1.1\n\tHost: a\n\t");
    }
}
