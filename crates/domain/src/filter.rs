//! SCIM filters (RFC 7644 §3.4.2.2) as used by `GET /v1/users?search=`:
//! a typed syntax tree, a parser with positioned errors, and a printer whose
//! output parses back to the same tree.
//!
//! The parser only knows syntax; which attributes exist and which operators
//! they accept is the store's business (it knows what its indexes can serve).

use std::fmt;

/// Longest filter accepted, in characters.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not`.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons (`attr op value` or `attr pr`) in one filter.
pub const MAX_COMPARISONS: usize = 64;
/// Most segments in an attribute path such as `custom_data.a.b`.
pub const MAX_SEGMENTS: usize = 8;
/// Longest segment of an attribute path, in characters.
pub const MAX_SEGMENT_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Literal,
    },
    Present(AttrPath),
}

/// An attribute path with its segments as written (case preserved: custom
/// data keys are case-sensitive even though top-level names are not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub segments: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// A number kept as its JSON text, so that printing gives back exactly what
/// was parsed and no precision is lost before the store interprets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 0-based character offset into the filter.
    pub position: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

impl AttrPath {
    /// The top-level attribute, e.g. `custom_data` in `custom_data.a.b`.
    pub fn root(&self) -> &str {
        self.segments.first().map_or("", String::as_str)
    }

    /// The segments after the top-level attribute.
    pub fn rest(&self) -> &[String] {
        self.segments.get(1..).unwrap_or_default()
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn from_word(word: &str) -> Option<CompareOp> {
        CompareOp::ALL
            .into_iter()
            .find(|op| word.eq_ignore_ascii_case(op.as_str()))
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Number {
    /// `text` if it is a JSON number.
    pub fn new(text: &str) -> Option<Number> {
        is_json_number(text.as_bytes()).then(|| Number(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value when it is written as an integer that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    pub fn as_f64(&self) -> f64 {
        // JSON number syntax is a subset of what `f64::from_str` accepts.
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Literal {
    /// What kind of literal this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::String(_) => "a string",
            Literal::Number(_) => "a number",
            Literal::Bool(_) => "a boolean",
            Literal::Null => "null",
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write_json_string(f, s),
            Literal::Number(n) => f.write_str(n.as_str()),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Binding strength when printing: a child binding weaker than its position
/// requires gets parentheses.
fn strength(filter: &Filter) -> u8 {
    match filter {
        Filter::Or(..) => 1,
        Filter::And(..) => 2,
        _ => 3,
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, filter: &Filter, min: u8) -> fmt::Result {
    if strength(filter) < min {
        write!(f, "({filter})")
    } else {
        write!(f, "{filter}")
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The right operand needs one level more than the left because the
        // operators are left-associative: `a or (b or c)` must keep its shape.
        match self {
            Filter::Or(l, r) => {
                write_operand(f, l, 1)?;
                f.write_str(" or ")?;
                write_operand(f, r, 2)
            }
            Filter::And(l, r) => {
                write_operand(f, l, 2)?;
                f.write_str(" and ")?;
                write_operand(f, r, 3)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
        }
    }
}

/// Parses a SCIM filter. Keywords, operators and `true`/`false`/`null` are
/// case-insensitive; `not` must be followed by a parenthesized filter.
pub fn parse(input: &str) -> Result<Filter, ParseError> {
    if input.chars().count() > MAX_LEN {
        return Err(ParseError {
            position: MAX_LEN,
            message: format!("filter is longer than {MAX_LEN} characters"),
        });
    }
    let mut parser = Parser {
        input,
        bytes: input.as_bytes(),
        pos: 0,
        depth: 0,
        comparisons: 0,
    };
    parser.skip_ws();
    if parser.at_end() {
        return Err(parser.error_at(0, "filter is empty".into()));
    }
    let filter = parser.parse_or()?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(filter),
        Some(b')') => Err(parser.error("unexpected `)`: no `(` opens it".into())),
        Some(_) => Err(parser.error(format!(
            "expected `and`, `or` or the end of the filter, found {}",
            parser.describe_here()
        ))),
    }
}

struct Parser<'a> {
    input: &'a str,
    bytes: &'a [u8],
    /// Byte offset; converted to characters only when reporting an error.
    pos: usize,
    depth: usize,
    comparisons: usize,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

impl<'a> Parser<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error_at(&self, byte: usize, message: String) -> ParseError {
        ParseError {
            position: self.input[..byte].chars().count(),
            message,
        }
    }

    fn error(&self, message: String) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// The word or character at the cursor, quoted for an error message.
    fn describe_here(&self) -> String {
        let word = self.peek_word();
        if !word.is_empty() {
            return format!("`{word}`");
        }
        match self.input[self.pos..].chars().next() {
            None => "the end of the filter".into(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn peek_word(&self) -> &'a str {
        let len = self.bytes[self.pos..]
            .iter()
            .take_while(|b| is_word_byte(**b))
            .count();
        &self.input[self.pos..self.pos + len]
    }

    fn take_word(&mut self) -> &'a str {
        let word = self.peek_word();
        self.pos += word.len();
        word
    }

    /// Consumes `keyword` when it is the next whole word.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let word = self.peek_word();
        let found = word.eq_ignore_ascii_case(keyword);
        if found {
            self.pos += word.len();
        }
        found
    }

    fn parse_or(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.parse_and()?;
        loop {
            self.skip_ws();
            if !self.eat_keyword("or") {
                return Ok(left);
            }
            let right = self.parse_operand("or")?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn parse_and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.parse_unary()?;
        loop {
            self.skip_ws();
            if !self.eat_keyword("and") {
                return Ok(left);
            }
            let right = self.parse_operand("and")?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    fn parse_operand(&mut self, after: &str) -> Result<Filter, ParseError> {
        self.skip_ws();
        if self.at_end() {
            return Err(self.error(format!("expected a filter after `{after}`")));
        }
        if after == "or" {
            self.parse_and()
        } else {
            self.parse_unary()
        }
    }

    fn parse_unary(&mut self) -> Result<Filter, ParseError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("expected a filter, found the end of the filter".into())),
            Some(b'(') => {
                let open = self.pos;
                self.pos += 1;
                self.nested(open, |p| p.parse_or())
            }
            Some(b')') => Err(self.error("unexpected `)`: expected a filter".into())),
            Some(_) if self.peek_word().eq_ignore_ascii_case("not") => self.parse_not(),
            Some(_) => self.parse_comparison(),
        }
    }

    fn parse_not(&mut self) -> Result<Filter, ParseError> {
        let not = self.pos;
        self.take_word();
        self.skip_ws();
        if self.peek() != Some(b'(') {
            return Err(self.error(format!(
                "expected `(` after `not`, found {}; write `not (<filter>)`",
                self.describe_here()
            )));
        }
        let open = self.pos;
        self.pos += 1;
        self.enter(not)?;
        let inner = self.nested(open, |p| p.parse_or());
        self.depth -= 1;
        Ok(Filter::Not(Box::new(inner?)))
    }

    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_at(
                at,
                format!("filter is nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    /// Parses what follows the `(` at byte `open`, then its `)`.
    fn nested(
        &mut self,
        open: usize,
        inner: impl FnOnce(&mut Self) -> Result<Filter, ParseError>,
    ) -> Result<Filter, ParseError> {
        self.enter(open)?;
        let filter = inner(self);
        self.depth -= 1;
        let filter = filter?;
        self.skip_ws();
        match self.peek() {
            Some(b')') => {
                self.pos += 1;
                Ok(filter)
            }
            None => Err(self.error_at(open, "unbalanced parenthesis: `(` is never closed".into())),
            Some(_) => Err(self.error(format!(
                "expected `and`, `or` or `)`, found {}",
                self.describe_here()
            ))),
        }
    }

    fn parse_comparison(&mut self) -> Result<Filter, ParseError> {
        let path = self.parse_path()?;
        if self.comparisons >= MAX_COMPARISONS {
            return Err(self.error(format!(
                "filter has more than {MAX_COMPARISONS} comparisons"
            )));
        }
        self.comparisons += 1;
        self.skip_ws();
        let op_start = self.pos;
        let word = self.take_word();
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_word(word) else {
            self.pos = op_start;
            let found = self.describe_here();
            let hint = if self.peek() == Some(b'[') {
                "; value filters (`attr[...]`) are not supported"
            } else {
                ""
            };
            return Err(self.error(format!(
                "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after `{path}`, found {found}{hint}"
            )));
        };
        self.skip_ws();
        let value = self.parse_literal(op)?;
        Ok(Filter::Compare { path, op, value })
    }

    fn parse_path(&mut self) -> Result<AttrPath, ParseError> {
        let start = self.pos;
        let word = self.take_word();
        if word.is_empty() {
            return Err(self.error(format!(
                "expected an attribute name, found {}",
                self.describe_here()
            )));
        }
        let mut segments = Vec::with_capacity(1);
        let mut offset = start;
        for segment in word.split('.') {
            self.check_segment(segment, offset, segments.len())?;
            segments.push(segment.to_owned());
            offset += segment.len() + 1;
        }
        Ok(AttrPath { segments })
    }

    fn check_segment(&self, segment: &str, at: usize, index: usize) -> Result<(), ParseError> {
        let first = segment.bytes().next();
        if !first.is_some_and(|b| b.is_ascii_alphabetic() || b == b'_') {
            let what = if segment.is_empty() {
                "an empty segment"
            } else {
                "a segment that does not start with a letter or `_`"
            };
            return Err(self.error_at(at, format!("invalid attribute name: {what}")));
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return Err(self.error_at(
                at,
                format!("attribute name segment is longer than {MAX_SEGMENT_LEN} characters"),
            ));
        }
        if index >= MAX_SEGMENTS {
            return Err(self.error_at(
                at,
                format!("attribute path has more than {MAX_SEGMENTS} segments"),
            ));
        }
        Ok(())
    }

    fn parse_literal(&mut self, op: CompareOp) -> Result<Literal, ParseError> {
        match self.peek() {
            Some(b'"') => self.parse_string().map(Literal::String),
            Some(b'-' | b'0'..=b'9') => self.parse_number().map(Literal::Number),
            _ => {
                let word = self.peek_word();
                let literal = if word.eq_ignore_ascii_case("true") {
                    Literal::Bool(true)
                } else if word.eq_ignore_ascii_case("false") {
                    Literal::Bool(false)
                } else if word.eq_ignore_ascii_case("null") {
                    Literal::Null
                } else {
                    let hint = if word.is_empty() {
                        ""
                    } else {
                        "; strings must be in double quotes"
                    };
                    return Err(self.error(format!(
                        "expected a value (a \"string\", a number, true, false or null) after `{op}`, found {}{hint}",
                        self.describe_here()
                    )));
                };
                self.pos += word.len();
                Ok(literal)
            }
        }
    }

    fn parse_number(&mut self) -> Result<Number, ParseError> {
        let start = self.pos;
        let len = self.bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
            .count();
        let text = &self.input[start..start + len];
        match Number::new(text) {
            Some(number) => {
                self.pos += len;
                Ok(number)
            }
            None => Err(self.error_at(start, format!("invalid number `{text}`"))),
        }
    }

    fn parse_string(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run = self.bytes[self.pos..]
                .iter()
                .take_while(|b| !matches!(b, b'"' | b'\\') && **b >= 0x20)
                .count();
            out.push_str(&self.input[self.pos..self.pos + run]);
            self.pos += run;
            match self.peek() {
                None => return Err(self.error_at(open, "unterminated string".into())),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.parse_escape(open)?),
                Some(_) => {
                    return Err(self.error(
                        "control character in string; write it as an escape such as \\n".into(),
                    ));
                }
            }
        }
    }

    /// `open` is the string's opening quote, where an unterminated one is reported.
    fn parse_escape(&mut self, open: usize) -> Result<char, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.parse_unicode_escape(start);
            }
            None => return Err(self.error_at(open, "unterminated string".into())),
            Some(_) => {
                return Err(self.error_at(
                    start,
                    "invalid escape in string; use one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"
                        .into(),
                ));
            }
        };
        self.pos += 1;
        Ok(c)
    }

    /// After `\u`; a UTF-16 surrogate pair is two escapes.
    fn parse_unicode_escape(&mut self, start: usize) -> Result<char, ParseError> {
        let high = self.hex4(start)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            let low = if self.bytes[self.pos..].starts_with(b"\\u") {
                self.pos += 2;
                self.hex4(start)?
            } else {
                0
            };
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.error_at(start, "invalid \\u escape: unpaired surrogate".into()));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        if code == 0 {
            // No stored text can hold NUL (PostgreSQL refuses it), so a
            // filter naming it could only fail later, as a database error.
            return Err(self.error_at(
                start,
                "\\u0000 (NUL) cannot occur in any value; remove it".into(),
            ));
        }
        char::from_u32(code)
            .ok_or_else(|| self.error_at(start, "invalid \\u escape: unpaired surrogate".into()))
    }

    fn hex4(&mut self, start: usize) -> Result<u32, ParseError> {
        let digits = self.bytes.get(self.pos..self.pos + 4);
        let value = digits
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        match value {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(self.error_at(
                start,
                "invalid \\u escape: expected four hexadecimal digits".into(),
            )),
        }
    }
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn is_json_number(s: &[u8]) -> bool {
    let mut i = usize::from(s.first() == Some(&b'-'));
    let digits = |i: usize| {
        s[i.min(s.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int = digits(i);
    if int == 0 || (int > 1 && s[i] == b'0') {
        return false;
    }
    i += int;
    if s.get(i) == Some(&b'.') {
        let frac = digits(i + 1);
        if frac == 0 {
            return false;
        }
        i += 1 + frac;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits(i);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> AttrPath {
        AttrPath {
            segments: p.split('.').map(str::to_owned).collect(),
        }
    }

    fn eq(p: &str, n: &str) -> Filter {
        Filter::Compare {
            path: path(p),
            op: CompareOp::Eq,
            value: Literal::Number(Number::new(n).unwrap()),
        }
    }

    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }

    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }

    fn not(f: Filter) -> Filter {
        Filter::Not(Box::new(f))
    }

    fn err(input: &str) -> ParseError {
        parse(input).expect_err(input)
    }

    fn string_value(input: &str) -> String {
        match parse(input).unwrap() {
            Filter::Compare {
                value: Literal::String(s),
                ..
            } => s,
            other => panic!("not a string comparison: {other:?}"),
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3").unwrap(),
            or(eq("a", "1"), and(eq("b", "2"), eq("c", "3")))
        );
        assert_eq!(
            parse("a eq 1 and b eq 2 or c eq 3").unwrap(),
            or(and(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
    }

    #[test]
    fn operators_of_equal_strength_associate_to_the_left() {
        assert_eq!(
            parse("a eq 1 or b eq 2 or c eq 3").unwrap(),
            or(or(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
        assert_eq!(
            parse("a eq 1 and b eq 2 and c eq 3").unwrap(),
            and(and(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3").unwrap(),
            and(or(eq("a", "1"), eq("b", "2")), eq("c", "3"))
        );
        assert_eq!(parse("((a eq 1))").unwrap(), eq("a", "1"));
    }

    #[test]
    fn not_applies_to_its_parenthesized_filter_only() {
        assert_eq!(
            parse("not (a eq 1 or b eq 2) and c eq 3").unwrap(),
            and(not(or(eq("a", "1"), eq("b", "2"))), eq("c", "3"))
        );
        assert_eq!(parse("not(a eq 1)").unwrap(), not(eq("a", "1")));
        assert_eq!(parse("not (not (a eq 1))").unwrap(), not(not(eq("a", "1"))));
    }

    #[test]
    fn keywords_operators_and_literals_are_case_insensitive() {
        let parsed = parse("NOT (a EQ TRUE) Or b Pr AND c nE NuLl").unwrap();
        let expected = or(
            not(Filter::Compare {
                path: path("a"),
                op: CompareOp::Eq,
                value: Literal::Bool(true),
            }),
            and(
                Filter::Present(path("b")),
                Filter::Compare {
                    path: path("c"),
                    op: CompareOp::Ne,
                    value: Literal::Null,
                },
            ),
        );
        assert_eq!(parsed, expected);
    }

    #[test]
    fn attribute_paths_keep_their_case_and_segments() {
        assert_eq!(
            parse("custom_data.Plan.tier-2 pr").unwrap(),
            Filter::Present(AttrPath {
                segments: vec!["custom_data".into(), "Plan".into(), "tier-2".into()]
            })
        );
    }

    #[test]
    fn every_comparison_operator_is_recognised() {
        for op in CompareOp::ALL {
            let parsed = parse(&format!("email {} \"x\"", op.as_str().to_uppercase())).unwrap();
            assert!(matches!(parsed, Filter::Compare { op: o, .. } if o == op));
        }
    }

    #[test]
    fn string_escapes_are_decoded() {
        assert_eq!(
            string_value(r#"a eq "q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00""#),
            "q\" b\\ s/ \u{8}\u{c}\n\r\t é 😀"
        );
        assert_eq!(string_value("a eq \"日本\""), "日本");
    }

    #[test]
    fn numbers_follow_json_syntax_and_keep_their_text() {
        for text in ["0", "-1", "12.50", "1e3", "-0.5E-10", "1700000000000"] {
            assert_eq!(
                parse(&format!("a eq {text}")).unwrap().to_string(),
                format!("a eq {text}")
            );
        }
        for bad in ["01", "1.", ".5", "1e", "-", "1x", "+1"] {
            assert!(parse(&format!("a eq {bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn printing_adds_only_the_parentheses_the_shape_needs() {
        for (input, printed) in [
            (
                "a eq 1 or (b eq 2 and c eq 3)",
                "a eq 1 or b eq 2 and c eq 3",
            ),
            (
                "a eq 1 or (b eq 2 or c eq 3)",
                "a eq 1 or (b eq 2 or c eq 3)",
            ),
            ("(a eq 1 or b eq 2) and c pr", "(a eq 1 or b eq 2) and c pr"),
            ("NOT(a Eq \"x\\\"y\")", "not (a eq \"x\\\"y\")"),
        ] {
            assert_eq!(parse(input).unwrap().to_string(), printed);
        }
    }

    #[test]
    fn an_unclosed_parenthesis_is_reported_where_it_opens() {
        let e = err("a eq 1 and (b eq 2 or (c eq 3)");
        assert_eq!(e.position, 11);
        assert_eq!(
            e.to_string(),
            "unbalanced parenthesis: `(` is never closed at position 11"
        );
    }

    #[test]
    fn a_stray_closing_parenthesis_is_reported_where_it_is() {
        let e = err("a eq 1) or b pr");
        assert_eq!(
            (e.position, e.message.as_str()),
            (6, "unexpected `)`: no `(` opens it")
        );
        assert_eq!(err("()").position, 1);
    }

    #[test]
    fn an_unknown_operator_names_the_attribute_and_the_valid_operators() {
        let e = err("email like \"x\"");
        assert_eq!(e.position, 6);
        assert_eq!(
            e.message,
            "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after `email`, found `like`"
        );
        assert_eq!(err("email").position, 5);
        assert!(
            err("emails[type eq \"work\"]")
                .message
                .contains("value filters")
        );
    }

    #[test]
    fn a_missing_value_is_reported_after_the_operator() {
        let e = err("email eq ");
        assert_eq!(e.position, 9);
        assert!(e.message.starts_with("expected a value"), "{e}");
        let e = err("email eq john");
        assert!(
            e.message.ends_with("strings must be in double quotes"),
            "{e}"
        );
    }

    #[test]
    fn an_unterminated_string_is_reported_where_it_starts() {
        let e = err("a eq 1 or email eq \"abc");
        assert_eq!(
            (e.position, e.message.as_str()),
            (19, "unterminated string")
        );
        assert_eq!(err("a eq \"abc\\").position, 5);
    }

    #[test]
    fn invalid_escapes_and_control_characters_are_rejected() {
        assert!(err(r#"a eq "\x""#).message.starts_with("invalid escape"));
        assert!(err(r#"a eq "\u12g4""#).message.contains("four hexadecimal"));
        assert!(
            err(r#"a eq "\ud83d""#)
                .message
                .contains("unpaired surrogate")
        );
        assert!(
            err("a eq \"\u{1}\"")
                .message
                .starts_with("control character")
        );
        let nul = err(r#"a eq "x\u0000""#);
        assert!(nul.message.contains("NUL"), "{}", nul.message);
        assert_eq!(nul.position, 7, "points at the escape");
    }

    #[test]
    fn trailing_text_is_rejected() {
        let e = err("a eq 1 b eq 2");
        assert_eq!(e.position, 7);
        assert_eq!(
            e.message,
            "expected `and`, `or` or the end of the filter, found `b`"
        );
        assert_eq!(err("(a eq 1 b eq 2)").position, 8);
        assert_eq!(err("a eq 1 and").position, 10);
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(err("a eq \"é\" )").position, 9);
    }

    #[test]
    fn not_requires_parentheses() {
        let e = err("not a eq 1");
        assert_eq!(e.position, 4);
        assert!(e.message.starts_with("expected `(` after `not`"), "{e}");
    }

    #[test]
    fn invalid_attribute_names_are_rejected() {
        assert_eq!(err("1a eq 1").position, 0);
        assert_eq!(err("a..b eq 1").position, 2);
        assert_eq!(err("a.1 eq 1").position, 2);
        assert!(
            err("$a eq 1")
                .message
                .starts_with("expected an attribute name")
        );
        let long = "x".repeat(65);
        assert!(
            err(&format!("a.{long} pr"))
                .message
                .contains("longer than 64")
        );
        assert!(
            err("a.b.c.d.e.f.g.h.i pr")
                .message
                .contains("more than 8 segments")
        );
        assert!(parse("a.b.c.d.e.f.g.h pr").is_ok());
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_rejected() {
        let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!(
            "{}a pr{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        let e = err(&deep);
        assert_eq!(e.position, MAX_DEPTH);
        assert_eq!(e.message, "filter is nested deeper than 32 levels");
        let nots = format!("{}a pr{}", "not (".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(err(&nots).message.contains("nested deeper"));
    }

    #[test]
    fn a_hostile_pile_of_parentheses_fails_fast_without_deep_recursion() {
        let e = err(&"(".repeat(MAX_LEN));
        assert!(e.message.contains("nested deeper"));
    }

    #[test]
    fn more_than_the_maximum_number_of_comparisons_is_rejected() {
        let ok = vec!["a pr"; MAX_COMPARISONS].join(" or ");
        assert!(parse(&ok).is_ok());
        let too_many = vec!["a pr"; MAX_COMPARISONS + 1].join(" or ");
        assert!(err(&too_many).message.contains("more than 64 comparisons"));
    }

    #[test]
    fn a_filter_longer_than_the_limit_is_rejected() {
        let long = format!("a eq \"{}\"", "x".repeat(MAX_LEN));
        assert_eq!(
            err(&long).to_string(),
            "filter is longer than 4096 characters at position 4096"
        );
    }

    #[test]
    fn an_empty_filter_is_rejected() {
        for input in ["", "   \t"] {
            let e = err(input);
            assert_eq!((e.position, e.message.as_str()), (0, "filter is empty"));
        }
    }

    mod round_trip {
        use super::super::*;
        use proptest::prelude::*;

        const RESERVED: [&str; 4] = ["and", "or", "not", "pr"];

        fn segment() -> impl Strategy<Value = String> {
            "[A-Za-z_][A-Za-z0-9_-]{0,6}".prop_filter("keywords", |s| {
                !RESERVED.contains(&s.to_lowercase().as_str())
            })
        }

        fn attr_path() -> impl Strategy<Value = AttrPath> {
            prop::collection::vec(segment(), 1..=3).prop_map(|segments| AttrPath { segments })
        }

        fn literal() -> impl Strategy<Value = Literal> {
            prop_oneof![
                // NUL is refused by the parser (no stored text holds it).
                any::<String>().prop_map(|s| Literal::String(s.replace('\0', ""))),
                any::<i64>().prop_map(|n| Literal::Number(Number::new(&n.to_string()).unwrap())),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| Literal::Number(Number::new(&format!("{f:e}")).unwrap())),
                any::<bool>().prop_map(Literal::Bool),
                Just(Literal::Null),
            ]
        }

        fn leaf() -> impl Strategy<Value = Filter> {
            prop_oneof![
                (
                    attr_path(),
                    prop::sample::select(CompareOp::ALL.to_vec()),
                    literal()
                )
                    .prop_map(|(path, op, value)| Filter::Compare {
                        path,
                        op,
                        value
                    }),
                attr_path().prop_map(Filter::Present),
            ]
        }

        fn filter() -> impl Strategy<Value = Filter> {
            leaf().prop_recursive(6, 48, 2, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone())
                        .prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
                    (inner.clone(), inner.clone())
                        .prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
                    inner.prop_map(|f| Filter::Not(Box::new(f))),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn printing_then_parsing_gives_back_the_same_filter(f in filter()) {
                let printed = f.to_string();
                prop_assert_eq!(parse(&printed), Ok(f), "printed as {}", printed);
            }

            #[test]
            fn arbitrary_input_never_panics(s in any::<String>()) {
                let _ = parse(&s);
            }
        }
    }
}
