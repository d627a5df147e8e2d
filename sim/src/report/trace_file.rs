//! The JSON-lines trace: one line per event, in stream order, with message contents on
//! sends. Node ids are replaced by names so a trace reads on its own.

use super::files::AtomicFile;
use crate::engine::trace::{Halt, Observer, Rec};
use std::io::Write;

pub struct TraceWriter {
    file: AtomicFile,
    pub error: Option<std::io::Error>,
    names: Vec<String>,
}

impl TraceWriter {
    pub fn new(file: AtomicFile, names: Vec<String>) -> TraceWriter {
        TraceWriter { file, error: None, names }
    }

    pub fn commit(self) -> std::io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.file.commit()
    }

    fn rename(&self, v: &mut serde_json::Value) {
        if let serde_json::Value::Object(map) = v {
            for key in ["node", "from", "to"] {
                if let Some(serde_json::Value::Number(n)) = map.get(key)
                    && let Some(name) = n.as_u64().and_then(|i| self.names.get(i as usize))
                {
                    map.insert(key.to_string(), serde_json::Value::String(name.clone()));
                }
            }
        }
    }
}

impl Observer for TraceWriter {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        if self.error.is_some() {
            return None;
        }
        let mut v = match serde_json::to_value(rec) {
            Ok(v) => v,
            Err(e) => {
                self.error = Some(std::io::Error::other(e));
                return None;
            }
        };
        self.rename(&mut v);
        if let Some(w) = self.file.writer() {
            let r = serde_json::to_writer(&mut *w, &v).map_err(std::io::Error::other).and_then(|_| w.write_all(b"\n"));
            if let Err(e) = r {
                self.error = Some(e);
            }
        }
        None
    }
}
