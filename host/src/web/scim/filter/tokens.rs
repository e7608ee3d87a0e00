//! The words of a filter: parentheses, brackets, attribute paths and
//! operators, JSON strings (escapes read by serde_json) and numbers.

use std::fmt;

use super::{FilterError, error};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Text(String),
    Number(serde_json::Number),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::OpenBracket => f.write_str("`[`"),
            Token::CloseBracket => f.write_str("`]`"),
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Text(t) => write!(f, "the string {t:?}"),
            Token::Number(n) => write!(f, "the number {n}"),
        }
    }
}

pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => at += 1,
            b'(' | b')' | b'[' | b']' => {
                tokens.push(match c {
                    b'(' => Token::Open,
                    b')' => Token::Close,
                    b'[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
                at += 1;
            }
            b'"' => {
                // A JSON string: find its closing quote, past escapes, and
                // let serde_json read the escapes.
                let mut end = at + 1;
                loop {
                    match bytes.get(end) {
                        None => return error("a string is not closed with `\"`"),
                        Some(b'\\') => end += 2,
                        Some(b'"') => break,
                        Some(_) => end += 1,
                    }
                }
                let literal = &text[at..=end];
                let value: String = serde_json::from_str(literal)
                    .map_err(|_| FilterError(format!("{literal} is not a valid string")))?;
                tokens.push(Token::Text(value));
                at = end + 1;
            }
            _ => {
                let start = at;
                while at < bytes.len() && !b" \t\n\r()[]\"".contains(&bytes[at]) {
                    at += 1;
                }
                let word = &text[start..at];
                if c == b'-' || c.is_ascii_digit() {
                    let number: serde_json::Number = serde_json::from_str(word)
                        .map_err(|_| FilterError(format!("`{word}` is not a number")))?;
                    tokens.push(Token::Number(number));
                } else {
                    tokens.push(Token::Word(word.to_owned()));
                }
            }
        }
    }
    Ok(tokens)
}
