//! The `%{ }%` blocks the scripts use to check `tcp_info` (README §1.7):
//! `assert <expr>[, <message>]` lines over integers, `tcpi_*` fields and
//! `TCP_*` state names, with arithmetic, comparisons, `and`, `or`, `not`;
//! and `NAME = <expr>` assignments, which later blocks see too.
//! Anything else is reported as not understood (the script is skipped).

use std::collections::HashMap;

/// Outcome of a block.
pub enum PyResult {
    /// Every assertion held.
    Ok,
    /// An assertion failed (text of it, and the values seen).
    Failed(String),
    /// The block uses something we do not model.
    Unsupported(String),
}

/// Runs `src` against the variables in `vars`; what it assigns goes into
/// `vars` and `names` (kept for the script's later blocks).
pub fn run(
    src: &str,
    vars: &mut HashMap<String, i64>,
    names: &mut HashMap<String, i64>,
) -> PyResult {
    for line in src.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('#') || line.starts_with("print") || line.starts_with("import ") {
            continue;
        }
        if let Some((name, expr)) = assignment(line) {
            match eval(expr, vars) {
                Ok((v, _)) => {
                    vars.insert(name.to_string(), v);
                    names.insert(name.to_string(), v);
                    continue;
                }
                Err(e) => return PyResult::Unsupported(e),
            }
        }
        let Some(body) = line.strip_prefix("assert ") else {
            return PyResult::Unsupported(format!("python `{line}`"));
        };
        // Drop a trailing ", message" at depth 0.
        let mut depth = 0;
        let mut cut = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        let expr = &body[..cut];
        match eval(expr, vars) {
            Ok((0, seen)) => {
                return PyResult::Failed(format!("assert {expr} ({})", seen.join(", ")));
            }
            Ok(_) => {}
            Err(e) => return PyResult::Unsupported(e),
        }
    }
    PyResult::Ok
}

/// `NAME = expr` (one identifier, a single `=`), split in two.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let (name, expr) = line.split_once('=')?;
    let name = name.trim();
    let ident = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (ident && !expr.starts_with('=')).then_some((name, expr))
}

/// Value of `expr`, with the names it read and their values.
fn eval(expr: &str, vars: &HashMap<String, i64>) -> Result<(i64, Vec<String>), String> {
    let mut p = P {
        t: lex(expr)?,
        i: 0,
        vars,
        seen: Vec::new(),
    };
    let v = p.or()?;
    if p.i != p.t.len() {
        return Err(format!("python `{expr}`"));
    }
    Ok((v, p.seen))
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Id(String),
    Op(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_digit() {
            let st = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let t: String = c[st..i].iter().collect();
            let v = if let Some(h) = t.strip_prefix("0x") {
                i64::from_str_radix(h, 16)
            } else {
                t.parse()
            };
            out.push(Tok::Num(v.map_err(|_| format!("python number `{t}`"))?));
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let st = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Id(c[st..i].iter().collect()));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if ["==", "!=", "<=", ">=", "//", "<<", ">>"].contains(&two.as_str()) {
                out.push(Tok::Op(two));
                i += 2;
            } else if "+-*/%<>()&|".contains(ch) {
                out.push(Tok::Op(ch.to_string()));
                i += 1;
            } else {
                return Err(format!("python character `{ch}`"));
            }
        }
    }
    Ok(out)
}

struct P<'a> {
    t: Vec<Tok>,
    i: usize,
    vars: &'a HashMap<String, i64>,
    seen: Vec<String>,
}

impl P<'_> {
    fn peek_op(&self, ops: &[&str]) -> Option<String> {
        match self.t.get(self.i) {
            Some(Tok::Op(o)) if ops.contains(&o.as_str()) => Some(o.clone()),
            Some(Tok::Id(o)) if ops.contains(&o.as_str()) => Some(o.clone()),
            _ => None,
        }
    }
    fn or(&mut self) -> Result<i64, String> {
        let mut v = self.and()?;
        while self.peek_op(&["or"]).is_some() {
            self.i += 1;
            let r = self.and()?;
            v = i64::from(v != 0 || r != 0);
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<i64, String> {
        let mut v = self.not()?;
        while self.peek_op(&["and"]).is_some() {
            self.i += 1;
            let r = self.not()?;
            v = i64::from(v != 0 && r != 0);
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<i64, String> {
        if self.peek_op(&["not"]).is_some() {
            self.i += 1;
            return Ok(i64::from(self.not()? == 0));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<i64, String> {
        let mut l = self.sum()?;
        let mut result = None;
        // Python chains comparisons: a < b < c.
        while let Some(op) = self.peek_op(&["==", "!=", "<", "<=", ">", ">="]) {
            self.i += 1;
            let r = self.sum()?;
            let ok = match op.as_str() {
                "==" => l == r,
                "!=" => l != r,
                "<" => l < r,
                "<=" => l <= r,
                ">" => l > r,
                _ => l >= r,
            };
            result = Some(result.unwrap_or(true) && ok);
            l = r;
        }
        Ok(result.map_or(l, i64::from))
    }
    fn sum(&mut self) -> Result<i64, String> {
        let mut v = self.prod()?;
        while let Some(op) = self.peek_op(&["+", "-", "&", "|", "<<", ">>"]) {
            self.i += 1;
            let r = self.prod()?;
            v = match op.as_str() {
                "+" => v + r,
                "-" => v - r,
                "&" => v & r,
                "|" => v | r,
                "<<" => v << r,
                _ => v >> r,
            };
        }
        Ok(v)
    }
    fn prod(&mut self) -> Result<i64, String> {
        let mut v = self.atom()?;
        while let Some(op) = self.peek_op(&["*", "/", "//", "%"]) {
            self.i += 1;
            let r = self.atom()?;
            if r == 0 && op != "*" {
                return Err("python division by zero".into());
            }
            v = match op.as_str() {
                "*" => v * r,
                "%" => v % r,
                _ => v / r,
            };
        }
        Ok(v)
    }
    fn atom(&mut self) -> Result<i64, String> {
        let t = self
            .t
            .get(self.i)
            .cloned()
            .ok_or("python: unexpected end")?;
        self.i += 1;
        match t {
            Tok::Num(n) => Ok(n),
            Tok::Op(o) if o == "-" => Ok(-self.atom()?),
            Tok::Op(o) if o == "(" => {
                let v = self.or()?;
                match self.t.get(self.i) {
                    Some(Tok::Op(c)) if c == ")" => {
                        self.i += 1;
                        Ok(v)
                    }
                    _ => Err("python: missing `)`".into()),
                }
            }
            Tok::Id(id) if id == "True" => Ok(1),
            Tok::Id(id) if id == "False" => Ok(0),
            Tok::Id(id) => match self.vars.get(&id) {
                Some(v) => {
                    self.seen.push(format!("{id}={v}"));
                    Ok(*v)
                }
                None => Err(format!("python name `{id}` is not modeled")),
            },
            Tok::Op(o) => Err(format!("python: unexpected `{o}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_assigned_in_one_block_is_seen_by_later_ones() {
        let mut names = HashMap::new();
        let mut vars: HashMap<String, i64> = [("tcpi_snd_cwnd".to_string(), 36)].into();
        let ok = run("LIMIT = 0x20 + 4", &mut vars, &mut names);
        assert!(matches!(ok, PyResult::Ok));
        assert_eq!(names.get("LIMIT"), Some(&36));
        let mut later: HashMap<String, i64> = names.clone();
        later.insert("tcpi_snd_cwnd".into(), 35);
        let failed = run(
            "assert tcpi_snd_cwnd == LIMIT, tcpi_snd_cwnd",
            &mut later,
            &mut names,
        );
        assert!(matches!(failed, PyResult::Failed(_)));
        // `==` is a comparison, not an assignment.
        assert_eq!(assignment("x == 1"), None);
    }
}
