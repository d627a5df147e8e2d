//! Rewriting pinned digests (`expect.digests`) in a scenario file's own text, for
//! `check --update-digests`: only the pinned values change — indentation, key order, line
//! breaks and everything else in the file stay as the author wrote them. A seed pinned for
//! the first time is added after the last pin, in the style of the pin before it.

/// Byte spans in a JSON text.
struct Scanner<'a> {
    s: &'a [u8],
}

type Span = (usize, usize);

impl Scanner<'_> {
    fn ws(&self, mut i: usize) -> usize {
        while i < self.s.len() && matches!(self.s[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }

    /// End of the string starting at `i` (just after its closing quote).
    fn string(&self, i: usize) -> Option<usize> {
        if self.s.get(i) != Some(&b'"') {
            return None;
        }
        let mut j = i + 1;
        while j < self.s.len() {
            match self.s[j] {
                b'\\' => j += 2,
                b'"' => return Some(j + 1),
                _ => j += 1,
            }
        }
        None
    }

    /// End of the value starting at `i`.
    fn value(&self, i: usize) -> Option<usize> {
        match self.s.get(i)? {
            b'"' => self.string(i),
            b'{' => self.members(i).map(|(end, _)| end),
            b'[' => {
                let mut j = self.ws(i + 1);
                if self.s.get(j) == Some(&b']') {
                    return Some(j + 1);
                }
                loop {
                    j = self.ws(self.value(j)?);
                    match self.s.get(j)? {
                        b',' => j = self.ws(j + 1),
                        b']' => return Some(j + 1),
                        _ => return None,
                    }
                }
            }
            _ => {
                let mut j = i;
                while j < self.s.len() && !matches!(self.s[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    j += 1;
                }
                (j > i).then_some(j)
            }
        }
    }

    /// The object starting at `i`: its end, and each member's (key text, key span, value span).
    #[allow(clippy::type_complexity)]
    fn members(&self, i: usize) -> Option<(usize, Vec<(String, Span, Span)>)> {
        if self.s.get(i) != Some(&b'{') {
            return None;
        }
        let mut out = Vec::new();
        let mut j = self.ws(i + 1);
        if self.s.get(j) == Some(&b'}') {
            return Some((j + 1, out));
        }
        loop {
            let key_end = self.string(j)?;
            let key: String = serde_json::from_slice(&self.s[j..key_end]).ok()?;
            let colon = self.ws(key_end);
            if self.s.get(colon) != Some(&b':') {
                return None;
            }
            let v = self.ws(colon + 1);
            let v_end = self.value(v)?;
            out.push((key, (j, key_end), (v, v_end)));
            j = self.ws(v_end);
            match self.s.get(j)? {
                b',' => j = self.ws(j + 1),
                b'}' => return Some((j + 1, out)),
                _ => return None,
            }
        }
    }

    fn member(&self, obj: usize, key: &str) -> Option<Span> {
        self.members(obj)?.1.into_iter().find(|(k, ..)| k == key).map(|(_, _, v)| v)
    }
}

/// `text` with `expect.digests` holding `pins` (seed → hex digest): existing pins replaced
/// in place, new ones appended. None if the file has no `expect.digests` object (or is not
/// JSON the scanner understands).
pub fn rewrite(text: &str, pins: &[(u64, String)]) -> Option<String> {
    let sc = Scanner { s: text.as_bytes() };
    let root = sc.ws(0);
    let (expect, _) = sc.member(root, "expect")?;
    let (digests, digests_end) = sc.member(expect, "digests")?;
    let (_, members) = sc.members(digests)?;
    let mut edits: Vec<(Span, String)> = Vec::new();
    let mut added = Vec::new();
    for (seed, hex) in pins {
        let key = seed.to_string();
        let value = format!("\"{hex}\"");
        match members.iter().find(|(k, ..)| *k == key) {
            Some((_, _, span)) => edits.push((*span, value)),
            None => added.push(format!("\"{key}\": {value}")),
        }
    }
    if !added.is_empty() {
        match members.last() {
            Some(&(_, _, (_, last_end))) => {
                // The separator before the last pin (", " or ",\n      "), reused.
                let sep = match members.len() {
                    1 => {
                        let (_, (k0, _), _) = members[0];
                        let indent = &text[digests + 1..k0];
                        if indent.contains('\n') { format!(",{indent}") } else { ", ".to_string() }
                    }
                    n => {
                        let (_, _, (_, prev_end)) = members[n - 2];
                        let (_, (k, _), _) = members[n - 1];
                        text[prev_end..k].to_string()
                    }
                };
                let insert: String = added.iter().map(|a| format!("{sep}{a}")).collect();
                edits.push(((last_end, last_end), insert));
            }
            None => edits.push(((digests, digests_end), format!("{{{}}}", added.join(", ")))),
        }
    }
    edits.sort_by_key(|(span, _)| span.0);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for ((a, b), new) in edits {
        out.push_str(&text[at..a]);
        out.push_str(&new);
        at = b;
    }
    out.push_str(&text[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_pins_in_place_and_keeps_the_layout() {
        let text = "{\n  \"name\": \"x\",\n  \"expect\": {\"safety\": \"holds\",\n    \"digests\": {\n      \"1\": \"aa\",\n      \"2\": \"bb\"\n    }\n  },\n  \"tags\": [\"a\", {\"digests\": 1}]\n}\n";
        let out = rewrite(text, &[(2, "cc".into()), (7, "dd".into())]).unwrap();
        let want = "{\n  \"name\": \"x\",\n  \"expect\": {\"safety\": \"holds\",\n    \"digests\": {\n      \"1\": \"aa\",\n      \"2\": \"cc\",\n      \"7\": \"dd\"\n    }\n  },\n  \"tags\": [\"a\", {\"digests\": 1}]\n}\n";
        assert_eq!(out, want);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["expect"]["digests"]["7"], "dd");
        // A single pin on one line; an empty object; no pins at all.
        let one = "{\"expect\": {\"digests\": {\"3\": \"aa\"}}}";
        assert_eq!(
            rewrite(one, &[(4, "bb".into())]).unwrap(),
            "{\"expect\": {\"digests\": {\"3\": \"aa\", \"4\": \"bb\"}}}"
        );
        let empty = "{\"expect\": {\"digests\": {}}}";
        assert_eq!(rewrite(empty, &[(4, "bb".into())]).unwrap(), "{\"expect\": {\"digests\": {\"4\": \"bb\"}}}");
        assert_eq!(rewrite("{\"expect\": {}}", &[(1, "aa".into())]), None);
    }
}
