//! `idstore breached import`: reads a Pwned Passwords text file (SHA-1
//! `HASH:COUNT` lines) twice, in a fixed buffer: once to check every line
//! and count them, so the filter is sized exactly and a malformed file
//! changes nothing; once to fill the filter. Memory is the filter's bits
//! plus the buffer, whatever the file's size. The filter then replaces the
//! stored one in one transaction.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use idstore_auth::password::breached::{BreachFilter, FilterShape, parse_line};

/// The read buffer.
const BUFFER: usize = 1 << 20;
/// A line is 40 hex digits and a count: anything much longer is not one,
/// and must not grow the buffer.
const LONGEST_LINE: u64 = 256;

/// Builds the filter from `path`; nothing is stored yet.
pub fn build(path: &Path, false_positive_rate: f64) -> anyhow::Result<BreachFilter> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut progress = Progress::new(size);
    let mut entries = 0u64;
    each_digest(path, |_, read| {
        entries += 1;
        progress.report("checked", entries, read);
    })?;
    // Before the filter's memory is taken: a refused rate costs nothing.
    FilterShape::sized_for(entries, false_positive_rate)?;
    let mut filter = BreachFilter::with_capacity(entries, false_positive_rate)?;
    let mut progress = Progress::new(size);
    each_digest(path, |digest, read| {
        filter.insert_sha1(digest);
        progress.report("inserted", filter.entries(), read);
    })?;
    anyhow::ensure!(
        filter.entries() == entries,
        "{} changed while it was read ({entries} entries, then {}): nothing was imported",
        path.display(),
        filter.entries()
    );
    Ok(filter)
}

/// Calls `each` with every digest of the file and the bytes read so far;
/// the first malformed line is an error naming its number.
fn each_digest(path: &Path, mut each: impl FnMut(&[u8; 20], u64)) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let mut line = Vec::with_capacity(LONGEST_LINE as usize + 1);
    let mut read = 0u64;
    for number in 1u64.. {
        line.clear();
        let n = (&mut reader)
            .take(LONGEST_LINE + 1)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {} at line {number}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        read += n as u64;
        let refused = |why: &dyn std::fmt::Display| {
            anyhow::anyhow!(
                "{} line {number}: {why}; nothing was imported",
                path.display()
            )
        };
        if n as u64 > LONGEST_LINE {
            return Err(refused(&format!("longer than {LONGEST_LINE} bytes")));
        }
        let text = std::str::from_utf8(&line).map_err(|_| refused(&"not UTF-8 text"))?;
        if let Some(digest) = parse_line(text).map_err(|e| refused(&e))? {
            each(&digest, read);
        }
    }
    unreachable!("a file has fewer than 2^64 lines")
}

/// Progress on stderr, at most once a second.
pub struct Progress {
    size: u64,
    printed: Instant,
}

impl Progress {
    pub fn new(size: u64) -> Self {
        Self {
            size,
            printed: Instant::now(),
        }
    }

    fn report(&mut self, what: &str, lines: u64, read: u64) {
        if self.printed.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.printed = Instant::now();
        eprintln!(
            "{what} {lines} entries ({}% of the file)",
            read * 100 / self.size.max(1)
        );
    }

    /// Storing: `written` of `total` bytes of the filter.
    pub fn stored(&mut self, written: usize, total: usize) {
        if self.printed.elapsed() < Duration::from_secs(1) && written < total {
            return;
        }
        self.printed = Instant::now();
        eprintln!(
            "stored {} of {} MiB of the filter",
            written >> 20,
            total.div_ceil(1 << 20)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idstore_auth::password::breached::sha1;
    use std::io::Write;

    fn file(text: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text).unwrap();
        f
    }

    #[test]
    fn a_file_in_the_pwned_passwords_format_fills_a_filter_sized_for_it() {
        let f = file(
            b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r\n\
              7c4a8d09ca3762af61e59520943dc26494f8941b\n\
              \n\
              F7C3BC1D808E04732ADF679965CCC34CA7AE3441:3",
        );
        let filter = build(f.path(), 0.001).unwrap();
        assert_eq!(filter.entries(), 3);
        for pw in ["password", "123456", "123456789"] {
            assert!(filter.contains_password(pw), "{pw}");
        }
        let sized = FilterShape::sized_for(3, 0.001).unwrap();
        assert_eq!(
            (filter.shape().bits, filter.shape().hashes),
            (sized.bits, sized.hashes)
        );
        assert!(!filter.contains_sha1(&sha1("not in the file")));
    }

    #[test]
    fn a_malformed_line_is_named_by_its_number() {
        let f = file(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\nnot a digest\n");
        let e = build(f.path(), 0.001).unwrap_err().to_string();
        assert!(
            e.contains("line 2:") && e.contains("nothing was imported"),
            "{e}"
        );
        let long = file(&[b'A'; 10_000]);
        let e = build(long.path(), 0.001).unwrap_err().to_string();
        assert!(e.contains("line 1: longer than 256 bytes"), "{e}");
        let binary = file(b"\xff\xfe\n");
        let e = build(binary.path(), 0.001).unwrap_err().to_string();
        assert!(e.contains("line 1: not UTF-8"), "{e}");
    }

    #[test]
    fn a_missing_file_or_a_wrong_rate_is_refused() {
        assert!(build(Path::new("/nonexistent/pwned.txt"), 0.001).is_err());
        let f = file(b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8\n");
        let e = build(f.path(), 0.9).unwrap_err().to_string();
        assert!(e.contains("false-positive rate"), "{e}");
    }
}
