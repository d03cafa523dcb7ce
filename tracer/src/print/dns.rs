//! DNS (print-domain.c).

use super::{Coverage, PResult, Printer};

impl Printer {
    /// domain_print().
    pub(super) fn domain(&mut self, _out: &mut Vec<u8>, _data: &[u8], _length: usize, _over_tcp: bool) -> PResult {
        self.limit(Coverage::Unsupported);
        Ok(())
    }
}
