//! Breached passwords, offline: a Bloom filter over the SHA-1 digests of
//! an operator-supplied list in the "Pwned Passwords" text format
//! (`HASH:COUNT` lines). A password whose digest the list holds is always
//! found; one it does not hold is found by mistake with the probability the
//! filter was sized for ([`BreachFilter::false_positive_rate`]).
//!
//! The digests are uniformly distributed already, so the filter indexes
//! its bits with two 64-bit words of the digest itself (double hashing,
//! Kirsch and Mitzenmacher) rather than hashing again.

use sha1::{Digest, Sha1};

/// What a filter looks like besides its bits: what storage keeps in
/// columns, and what [`BreachFilter::from_parts`] checks the bits against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterShape {
    /// Bits in the filter (its byte length is this over 8, rounded up).
    pub bits: u64,
    /// Bits set per entry.
    pub hashes: u32,
    /// Digests inserted.
    pub entries: u64,
    /// The false-positive rate the filter was sized for.
    pub false_positive_rate: f64,
}

impl FilterShape {
    /// The optimal shape for `capacity` entries at `false_positive_rate`:
    /// m = -n ln p / (ln 2)^2 bits and k = (m / n) ln 2 hashes.
    pub fn sized_for(capacity: u64, false_positive_rate: f64) -> Result<Self, FilterError> {
        if !(false_positive_rate > 0.0 && false_positive_rate <= 0.5) {
            return Err(FilterError::Rate(false_positive_rate));
        }
        let n = capacity.max(1) as f64;
        let ln2 = std::f64::consts::LN_2;
        let bits = (-n * false_positive_rate.ln() / (ln2 * ln2)).ceil();
        if bits > MAX_BITS as f64 {
            return Err(FilterError::TooLarge(capacity));
        }
        let bits = (bits as u64).max(64);
        let hashes = ((bits as f64 / n) * ln2).round().clamp(1.0, 64.0) as u32;
        Ok(Self {
            bits,
            hashes,
            entries: 0,
            false_positive_rate,
        })
    }

    fn bytes(&self) -> usize {
        self.bits.div_ceil(8) as usize
    }
}

/// 2^37 bits: 16 GiB, about 9 billion entries at 0.001.
const MAX_BITS: u64 = 1 << 37;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("the false-positive rate must be above 0 and at most 0.5, not {0}")]
    Rate(f64),
    #[error("a filter for {0} entries would exceed 16 GiB")]
    TooLarge(u64),
    #[error("the stored filter is damaged: {0}")]
    Damaged(&'static str),
}

/// A Bloom filter over SHA-1 digests.
#[derive(Clone, PartialEq)]
pub struct BreachFilter {
    shape: FilterShape,
    bits: Vec<u8>,
}

impl std::fmt::Debug for BreachFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreachFilter")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

/// Magic and format version of [`BreachFilter::to_bytes`].
const MAGIC: &[u8; 8] = b"IDSBF\x00\x00\x01";
const HEADER: usize = MAGIC.len() + 8 + 4 + 8 + 8;

impl BreachFilter {
    /// An empty filter sized for `capacity` entries at `false_positive_rate`.
    pub fn with_capacity(capacity: u64, false_positive_rate: f64) -> Result<Self, FilterError> {
        let shape = FilterShape::sized_for(capacity, false_positive_rate)?;
        Ok(Self {
            bits: vec![0; shape.bytes()],
            shape,
        })
    }

    /// A filter from its stored shape and bits.
    pub fn from_parts(shape: FilterShape, bits: Vec<u8>) -> Result<Self, FilterError> {
        if shape.bits == 0 || bits.len() != shape.bytes() {
            return Err(FilterError::Damaged("its length does not match its shape"));
        }
        if !(1..=64).contains(&shape.hashes) {
            return Err(FilterError::Damaged("its hash count is out of range"));
        }
        if !(shape.false_positive_rate > 0.0 && shape.false_positive_rate <= 0.5) {
            return Err(FilterError::Damaged(
                "its false-positive rate is out of range",
            ));
        }
        Ok(Self { shape, bits })
    }

    pub fn shape(&self) -> FilterShape {
        self.shape
    }

    /// The filter's bits, eight to a byte, least significant first.
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    pub fn insert_sha1(&mut self, digest: &[u8; 20]) {
        for bit in self.positions(digest) {
            self.bits[(bit / 8) as usize] |= 1 << (bit % 8);
        }
        self.shape.entries += 1;
    }

    pub fn insert_password(&mut self, password: &str) {
        self.insert_sha1(&sha1(password));
    }

    /// Whether the list held the SHA-1 of the UTF-8 `password`, or (at the
    /// target rate) a false positive.
    pub fn contains_password(&self, password: &str) -> bool {
        self.contains_sha1(&sha1(password))
    }

    pub fn contains_sha1(&self, digest: &[u8; 20]) -> bool {
        self.positions(digest)
            .all(|bit| self.bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }

    pub fn entries(&self) -> u64 {
        self.shape.entries
    }

    /// The target the filter was sized for.
    pub fn false_positive_rate(&self) -> f64 {
        self.shape.false_positive_rate
    }

    /// The k bit positions of `digest`: (h1 + i h2) mod m.
    fn positions(&self, digest: &[u8; 20]) -> impl Iterator<Item = u64> + use<> {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&digest[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let (h1, h2) = (word(0), word(8) | 1);
        let m = self.shape.bits;
        (0..u64::from(self.shape.hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % m)
    }

    /// The filter as one byte string: a header (magic, shape) and the bits.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.bits.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.shape.bits.to_le_bytes());
        out.extend_from_slice(&self.shape.hashes.to_le_bytes());
        out.extend_from_slice(&self.shape.entries.to_le_bytes());
        out.extend_from_slice(&self.shape.false_positive_rate.to_le_bytes());
        out.extend_from_slice(&self.bits);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FilterError> {
        let (header, bits) = bytes
            .split_at_checked(HEADER)
            .ok_or(FilterError::Damaged("it is shorter than its header"))?;
        let (magic, rest) = header.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(FilterError::Damaged("it is not an idstore filter"));
        }
        let (bits_len, rest) = rest.split_at(8);
        let (hashes, rest) = rest.split_at(4);
        let (entries, rate) = rest.split_at(8);
        let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let shape = FilterShape {
            bits: u64_of(bits_len),
            hashes: u32::from_le_bytes(hashes.try_into().expect("4 bytes")),
            entries: u64_of(entries),
            false_positive_rate: f64::from_bits(u64_of(rate)),
        };
        Self::from_parts(shape, bits.to_vec())
    }
}

/// The SHA-1 of `password`'s UTF-8 bytes, as the Pwned Passwords list
/// holds it.
pub fn sha1(password: &str) -> [u8; 20] {
    Sha1::digest(password.as_bytes()).into()
}

/// Why a line of a Pwned Passwords file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected 40 hexadecimal digits, optionally followed by `:COUNT`")]
    Digest,
    #[error("the count after `:` is not a whole number")]
    Count,
}

/// One line of the Pwned Passwords text format: 40 hex digits (either
/// case), optionally `:COUNT`; the line ending (`\n` or `\r\n`) and
/// surrounding blanks are ignored. `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<[u8; 20]>, LineError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (hex, count) = match line.split_once(':') {
        Some((hex, count)) => (hex, Some(count)),
        None => (line, None),
    };
    if count.is_some_and(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit())) {
        return Err(LineError::Count);
    }
    let hex = hex.as_bytes();
    if hex.len() != 40 {
        return Err(LineError::Digest);
    }
    let mut digest = [0u8; 20];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let nibble = |c: u8| (c as char).to_digit(16).ok_or(LineError::Digest);
        *byte = (nibble(pair[0])? << 4 | nibble(pair[1])?) as u8;
    }
    Ok(Some(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests no test inserts: SHA-1 of a counter under a prefix no
    /// inserted item has.
    fn outsiders(n: u32) -> impl Iterator<Item = [u8; 20]> {
        (0..n).map(|i| sha1(&format!("not-a-member-{i}")))
    }

    fn measured_rate(target: f64) -> f64 {
        let entries = 100_000u32;
        let mut filter = BreachFilter::with_capacity(u64::from(entries), target).unwrap();
        let members: Vec<_> = (0..entries).map(|i| sha1(&format!("member-{i}"))).collect();
        members.iter().for_each(|d| filter.insert_sha1(d));
        assert!(
            members.iter().all(|d| filter.contains_sha1(d)),
            "no false negative"
        );
        assert_eq!(filter.entries(), u64::from(entries));
        let queries = 1_000_000;
        let hits = outsiders(queries)
            .filter(|d| filter.contains_sha1(d))
            .count();
        hits as f64 / f64::from(queries)
    }

    #[test]
    fn the_measured_false_positive_rate_is_within_half_again_of_the_target() {
        for target in [0.001, 0.01] {
            let measured = measured_rate(target);
            println!("false-positive rate: target {target}, measured {measured}");
            assert!(
                measured <= target * 1.5 && measured >= target / 1.5,
                "target {target}, measured {measured}"
            );
        }
    }

    #[test]
    fn the_size_follows_the_formula() {
        let shape = FilterShape::sized_for(1_000_000, 0.001).unwrap();
        // 14.38 bits per entry, 10 hashes.
        assert_eq!(shape.bits, 14_377_588);
        assert_eq!(shape.hashes, 10);
        let filter = BreachFilter::with_capacity(1_000_000, 0.001).unwrap();
        assert_eq!(filter.bits().len(), 1_797_199);
    }

    #[test]
    fn passwords_are_found_by_the_sha1_of_their_utf8() {
        let mut filter = BreachFilter::with_capacity(10, 0.001).unwrap();
        filter.insert_sha1(
            &parse_line("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:3")
                .unwrap()
                .unwrap(),
        );
        assert!(filter.contains_password("password"), "SHA-1 of `password`");
        assert!(!filter.contains_password("Password"));
        filter.insert_password("pässwörd");
        assert!(filter.contains_sha1(&sha1("pässwörd")));
        assert_eq!(filter.entries(), 2);
    }

    #[test]
    fn a_filter_round_trips_through_bytes_and_parts() {
        let mut filter = BreachFilter::with_capacity(1000, 0.01).unwrap();
        (0..1000).for_each(|i| filter.insert_password(&i.to_string()));
        let back = BreachFilter::from_bytes(&filter.to_bytes()).unwrap();
        assert_eq!(back, filter);
        assert_eq!((back.entries(), back.false_positive_rate()), (1000, 0.01));
        assert!((0..1000).all(|i| back.contains_password(&i.to_string())));
        let parts = BreachFilter::from_parts(filter.shape(), filter.bits().to_vec()).unwrap();
        assert_eq!(parts, filter);
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let bytes = BreachFilter::with_capacity(100, 0.01).unwrap().to_bytes();
        assert!(BreachFilter::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(BreachFilter::from_bytes(&bytes[..10]).is_err());
        let mut wrong_magic = bytes.clone();
        wrong_magic[0] = b'X';
        assert!(BreachFilter::from_bytes(&wrong_magic).is_err());
        let mut no_hashes = bytes.clone();
        no_hashes[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert!(BreachFilter::from_bytes(&no_hashes).is_err());
    }

    #[test]
    fn rates_outside_the_useful_range_are_refused() {
        for rate in [0.0, -0.1, 0.6, f64::NAN] {
            assert!(BreachFilter::with_capacity(10, rate).is_err(), "{rate}");
        }
        assert!(BreachFilter::with_capacity(u64::MAX, 0.001).is_err());
    }

    #[test]
    fn lines_in_either_case_with_or_without_a_count_parse() {
        let upper = parse_line("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004\r\n");
        let lower = parse_line("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8\n");
        assert_eq!(upper, Ok(Some(sha1("password"))));
        assert_eq!(lower, upper);
        assert_eq!(parse_line("  \r\n"), Ok(None));
    }

    #[test]
    fn malformed_lines_are_refused() {
        let digest = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";
        assert_eq!(parse_line(&digest[..39]), Err(LineError::Digest));
        assert_eq!(parse_line(&format!("{digest}0")), Err(LineError::Digest));
        assert_eq!(
            parse_line(&digest.replace('B', "G")),
            Err(LineError::Digest)
        );
        assert_eq!(parse_line(&format!("{digest}:")), Err(LineError::Count));
        assert_eq!(parse_line(&format!("{digest}:12x")), Err(LineError::Count));
        assert_eq!(parse_line(&format!("{digest}:-1")), Err(LineError::Count));
        assert_eq!(parse_line("password"), Err(LineError::Digest));
        // 40 bytes, not 40 hex digits.
        assert_eq!(parse_line(&"é".repeat(20)), Err(LineError::Digest));
    }
}
