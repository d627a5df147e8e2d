//! Output files are written atomically: to a temporary file in the same directory, then
//! renamed into place, so a reader never sees half a report and a failed run leaves no
//! partial file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically, creating parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    remove_stale_temps(dir);
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks, before a long run, that `path` can become a file: it is not a directory and
/// the nearest existing ancestor is a directory. A run that would fail only when writing
/// its results wastes the run; a user mistyping `--trace reports/` learns it at once.
pub fn check_output_file(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{} is a directory, not a file", path.display()));
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => check_output_dir(dir),
        None => Ok(()),
    }
}

/// Checks that `dir` is, or can be created as, a directory: it is not a file, and its
/// nearest existing ancestor is a directory.
pub fn check_output_dir(dir: &Path) -> Result<(), String> {
    for a in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        if a.is_dir() {
            return Ok(());
        }
        if a.exists() || a.symlink_metadata().is_ok() {
            return Err(format!("{} is not a directory", a.display()));
        }
    }
    Ok(())
}

/// Removes temporary files that killed runs left behind in `dir` (`.name.tmp-<pid>` whose
/// process is gone). A run killed with SIGKILL cannot clean up after itself, and a trace's
/// temporary file can be hundreds of megabytes; the next run writing to the same directory
/// does it. Only on systems with `/proc` (elsewhere nothing can tell a live writer from a
/// dead one, so nothing is removed).
pub fn remove_stale_temps(dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = stale_temp_pid(name) else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The writer's process id if `name` is one of our temporary files.
fn stale_temp_pid(name: &str) -> Option<u32> {
    let (stem, pid) = name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    if stem.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// `dir/.name.tmp-<pid>`: hidden, unique per process, same filesystem as the target.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// A writer to a temporary file that becomes `path` only on `commit` (for streams too
/// large to hold in memory, such as traces). Dropped without commit, it removes itself.
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> std::io::Result<AtomicFile> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        remove_stale_temps(dir);
        let tmp = temp_path(path);
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        Ok(AtomicFile { tmp, path: path.to_path_buf(), file: Some(file) })
    }

    pub fn writer(&mut self) -> Option<&mut std::io::BufWriter<std::fs::File>> {
        self.file.as_mut()
    }

    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush()?;
            f.get_ref().sync_all()?;
        }
        std::fs::rename(&self.tmp, &self.path)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dbft-sim-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn temp_names_carry_the_writer_pid() {
        assert_eq!(stale_temp_pid(".report.json.tmp-4242"), Some(4242));
        assert_eq!(stale_temp_pid(".a.tmp-1.tmp-77"), Some(77));
        for not_ours in ["report.json", ".report.json", ".x.tmp-", ".x.tmp-12a", ".tmp-12", "x.tmp-12"] {
            assert_eq!(stale_temp_pid(not_ours), None, "{not_ours}");
        }
    }

    /// A dead writer's temporary file goes; a live one's (ours) and other files stay.
    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let d = scratch("stale");
        // PIDs above the kernel's pid_max (at most 2^22) never belong to a live process.
        let dead = d.join(".report.json.tmp-4194305");
        let live = temp_path(&d.join("trace.jsonl"));
        let other = d.join("notes.txt");
        for f in [&dead, &live, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        write_atomic(&d.join("report.json"), b"{}").unwrap();
        assert!(!dead.exists(), "a dead writer's temporary file is removed");
        assert!(live.exists() && other.exists());
        assert_eq!(std::fs::read(d.join("report.json")).unwrap(), b"{}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn output_paths_are_checked_before_a_run() {
        let d = scratch("check");
        let file = d.join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(check_output_file(&d.join("new/trace.jsonl")), Ok(()));
        assert!(check_output_file(&d).unwrap_err().contains("is a directory"));
        assert!(check_output_file(&file.join("trace.jsonl")).unwrap_err().contains("is not a directory"));
        assert!(check_output_dir(&file.join("x/y")).unwrap_err().contains("a-file is not a directory"));
        assert!(check_output_dir(&file).unwrap_err().contains("is not a directory"));
        assert_eq!(check_output_dir(&d.join("new/dir")), Ok(()));
        let _ = std::fs::remove_dir_all(&d);
    }
}
