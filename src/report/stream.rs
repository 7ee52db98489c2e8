//! Streamed JSON: values written one at a time, byte for byte what `serde_json`'s pretty
//! printer makes of the whole document, so that a long log is rendered without being held.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

/// `value` pretty-printed as it would be at nesting `depth` (two spaces a level): its lines
/// after the first indented. JSON strings never hold a raw newline, so every newline in the
/// pretty form is the formatter's own.
pub fn pretty_at(value: &impl Serialize, depth: usize) -> Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    if depth == 0 {
        return Ok(text);
    }
    let pad = "  ".repeat(depth);
    Ok(text.replace('\n', &format!("\n{pad}")))
}

/// A JSON array written element by element at nesting `depth`.
pub struct Array {
    depth: usize,
    count: u64,
}

impl Array {
    /// Starts an array whose `[` the caller has not written yet.
    pub fn new(depth: usize) -> Self {
        Array { depth, count: 0 }
    }

    pub fn push(&mut self, out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
        out.write_all(if self.count == 0 { b"[\n" } else { b",\n" })?;
        let pad = "  ".repeat(self.depth + 1);
        write!(out, "{pad}{}", pretty_at(value, self.depth + 1)?)?;
        self.count += 1;
        Ok(())
    }

    /// Closes the array (`[]` when empty).
    pub fn finish(self, out: &mut dyn Write) -> Result<()> {
        if self.count == 0 {
            out.write_all(b"[]")?;
        } else {
            write!(out, "\n{}]", "  ".repeat(self.depth))?;
        }
        Ok(())
    }
}

/// A JSON object's members written one at a time at nesting `depth`.
pub struct Object {
    depth: usize,
    count: u64,
}

impl Object {
    pub fn new(depth: usize) -> Self {
        Object { depth, count: 0 }
    }

    /// Writes `"key": ` and leaves the value to the caller (see [`Object::member`]).
    pub fn key(&mut self, out: &mut dyn Write, key: &str) -> Result<()> {
        out.write_all(if self.count == 0 { b"{\n" } else { b",\n" })?;
        write!(
            out,
            "{}{}: ",
            "  ".repeat(self.depth + 1),
            serde_json::to_string(key)?
        )?;
        self.count += 1;
        Ok(())
    }

    pub fn member(&mut self, out: &mut dyn Write, key: &str, value: &impl Serialize) -> Result<()> {
        self.key(out, key)?;
        out.write_all(pretty_at(value, self.depth + 1)?.as_bytes())?;
        Ok(())
    }

    /// Closes the object (`{}` when empty).
    pub fn finish(self, out: &mut dyn Write) -> Result<()> {
        if self.count == 0 {
            out.write_all(b"{}")?;
        } else {
            write!(out, "\n{}}}", "  ".repeat(self.depth))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn streamed_documents_equal_serde_json_pretty() {
        let items = vec![
            serde_json::json!({"a": [1, 2, {"b": "x\ny"}], "c": {}}),
            serde_json::json!([]),
            serde_json::json!("plain"),
        ];
        let mut map = BTreeMap::new();
        map.insert("k1", vec![1, 2]);
        map.insert("k2", vec![]);
        let whole = serde_json::json!({"items": items, "map": map, "none": [], "empty": {}});
        let mut out = Vec::new();
        let mut doc = Object::new(0);
        doc.key(&mut out, "empty").unwrap();
        Object::new(1).finish(&mut out).unwrap();
        doc.key(&mut out, "items").unwrap();
        let mut arr = Array::new(1);
        for i in &items {
            arr.push(&mut out, i).unwrap();
        }
        arr.finish(&mut out).unwrap();
        doc.key(&mut out, "map").unwrap();
        let mut m = Object::new(1);
        for (k, v) in &map {
            m.member(&mut out, k, v).unwrap();
        }
        m.finish(&mut out).unwrap();
        doc.key(&mut out, "none").unwrap();
        Array::new(1).finish(&mut out).unwrap();
        doc.finish(&mut out).unwrap();
        // Written in key order: serde_json::Value sorts its keys.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string_pretty(&whole).unwrap()
        );
    }
}
