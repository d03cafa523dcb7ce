//! Reading what a guest wrote: libtest's `test NAME ... ok` lines between the stage-2
//! script's `vm-test: begin NAME` / `vm-test: end NAME status N` markers. A test counts as
//! passed only on its `ok` line; every other test the binary holds (failed, never reached
//! because the guest hung or the binary crashed) counts as failed.

use std::collections::BTreeMap;

/// What one test binary did in a guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Binary {
    pub passed: Vec<String>,
    pub failed: Vec<String>,
    pub ignored: Vec<String>,
    /// The binary's exit status, when the guest got as far as its end marker.
    pub status: Option<i32>,
}

/// Parses a guest's results file. `expected` lists each binary's tests (from `--list` on the
/// host), so that tests that never ran are counted as failed.
pub fn parse(text: &str, expected: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Binary> {
    let mut out: BTreeMap<String, Binary> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("vm-test: begin ") {
            current = Some(name.trim().to_string());
            out.entry(name.trim().to_string()).or_default();
            continue;
        }
        if let Some(rest) = line.strip_prefix("vm-test: end ") {
            if let Some((name, status)) = rest.split_once(" status ")
                && let Some(b) = out.get_mut(name.trim())
            {
                b.status = status.trim().parse().ok();
            }
            current = None;
            continue;
        }
        let Some(name) = current.as_ref() else { continue };
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((test, verdict)) = rest.rsplit_once(" ... ") else {
            continue;
        };
        let b = out.entry(name.clone()).or_default();
        match verdict.trim() {
            "ok" => b.passed.push(test.to_string()),
            "FAILED" => b.failed.push(test.to_string()),
            v if v.starts_with("ignored") => b.ignored.push(test.to_string()),
            _ => {}
        }
    }
    for (name, tests) in expected {
        let b = out.entry(name.clone()).or_default();
        for t in tests {
            if !b.passed.contains(t) && !b.failed.contains(t) && !b.ignored.contains(t) {
                b.failed.push(format!("{t} (did not finish)"));
            }
        }
        // A binary that failed without naming a test (it could not start, say).
        if b.failed.is_empty() && b.status.is_some_and(|s| s != 0) {
            b.failed
                .push(format!("{name} (exit status {})", b.status.unwrap_or(-1)));
        }
    }
    out
}

/// The test names libtest's `--list --format terse` prints (`NAME: test`).
pub fn listed_tests(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("http".to_string(), vec!["a".to_string(), "b".to_string()]),
            ("stat".to_string(), vec!["c".to_string()]),
        ])
    }

    #[test]
    fn counts_ok_failed_and_unfinished() {
        let text = "vm-test: ready 3.1s\nvm-test: begin http\nrunning 2 tests\ntest a ... ok\ntest b ... FAILED\n\
                    vm-test: end http status 101\nvm-test: begin stat\nrunning 1 test\n";
        let r = parse(text, &expected());
        assert_eq!(r["http"].passed, ["a"]);
        assert_eq!(r["http"].failed, ["b"]);
        assert_eq!(r["http"].status, Some(101));
        assert!(r["stat"].passed.is_empty());
        assert_eq!(r["stat"].failed, ["c (did not finish)"]);
    }

    #[test]
    fn a_binary_that_never_started_fails_all_its_tests() {
        let r = parse("", &expected());
        assert_eq!(r["http"].failed.len(), 2);
        assert_eq!(r["stat"].failed.len(), 1);
    }

    #[test]
    fn test_output_between_lines_is_ignored() {
        let text = "vm-test: begin stat\ntest c ... some output\r\ntest c ... ok\r\nvm-test: end stat status 0\n";
        let r = parse(text, &expected());
        assert_eq!(r["stat"].passed, ["c"]);
        assert!(r["stat"].failed.is_empty());
    }

    #[test]
    fn terse_list() {
        assert_eq!(listed_tests("a: test\nb::c: test\n\n"), ["a", "b::c"]);
    }
}
