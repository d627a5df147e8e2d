//! Output files are written atomically: to a temporary file in the same directory, then
//! renamed into place, so a reader never sees half a report and a failed run leaves no
//! partial file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically, creating parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = &match target_of(path)? {
        Target::InPlace(p) => {
            let mut f = open_in_place(&p)?;
            f.write_all(bytes)?;
            return f.flush();
        }
        Target::Atomic(p) => p,
    };
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

/// Where an output named `path` goes.
enum Target {
    /// A regular file, new or existing: written to a temporary file renamed over it.
    Atomic(PathBuf),
    /// Something that exists and is not a regular file or a directory — a device such as
    /// `/dev/null`, a FIFO: written in place. Renaming a temporary file over it would
    /// replace the device node with a plain file (as root, `--trace /dev/null` did).
    InPlace(PathBuf),
}

/// Opens a special output for writing in place. This process's own standard output or
/// error (`/dev/stdout`, `/proc/self/fd/1`, ...) is used through a duplicate of its
/// descriptor, which shares the position: opening the name anew would start a second
/// position at 0, and the run's own printing would write over the trace (with `> file`).
/// Anything else is opened for appending (a device or FIFO has no position anyway).
fn open_in_place(p: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let fd = p.to_str().and_then(|s| match s {
            "/dev/stdout" => Some(1),
            "/dev/stderr" => Some(2),
            s => s.strip_prefix("/dev/fd/").or_else(|| s.strip_prefix("/proc/self/fd/"))?.parse::<u8>().ok(),
        });
        match fd {
            Some(1) => return Ok(std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?)),
            Some(2) => return Ok(std::fs::File::from(std::io::stderr().as_fd().try_clone_to_owned()?)),
            _ => {}
        }
    }
    std::fs::OpenOptions::new().append(true).open(p)
}

/// How many symbolic links an output path may pass through (Linux's own limit).
const MAX_LINK_HOPS: usize = 40;

/// Resolves a symbolic link (the file it names is written, the link stays) and tells a
/// special file from a regular one.
fn target_of(path: &Path) -> std::io::Result<Target> {
    // What the system finds at the end of every link (`/dev/stdout` into a pipe included):
    // anything but a regular file or a directory is written in place.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return Ok(Target::InPlace(path.to_path_buf()));
    }
    let mut at = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        // A name for an open descriptor (`/dev/stdout` redirected to a file,
        // `/proc/self/fd/1`) stands for a file this process holds open: renaming over what
        // it resolves to would cut the process's own output off. Written in place.
        if names_a_descriptor(&at) && at.exists() {
            return Ok(Target::InPlace(path.to_path_buf()));
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&at)?;
                at = match at.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(Target::Atomic(at)),
        }
    }
    Err(std::io::Error::other(format!("{}: too many levels of symbolic links", path.display())))
}

/// `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N` or `/proc/<pid>/fd/N`:
/// a name for an open file descriptor, not for a file (a regular file under `/dev/shm`
/// is a file, and is replaced atomically like any other).
fn names_a_descriptor(p: &Path) -> bool {
    let c: Vec<&std::ffi::OsStr> = p.components().map(|c| c.as_os_str()).collect();
    match c.as_slice() {
        [root, dev, name] if *root == "/" && *dev == "dev" => *name == "stdout" || *name == "stderr",
        [root, dev, fd, _] if *root == "/" && *dev == "dev" && *fd == "fd" => true,
        [root, proc, _, fd, _] if *root == "/" && *proc == "proc" && *fd == "fd" => true,
        _ => false,
    }
}

/// The file an output named `path` ends up as, spelled one way (absolute, its existing
/// directory resolved, links followed), so two outputs can be told apart however they
/// are written (`o/report.json`, `/abs/o/../o/report.json`, a link to it). None for a
/// device or FIFO written in place.
pub fn output_identity(path: &Path) -> Option<PathBuf> {
    let Ok(Target::Atomic(p)) = target_of(path) else { return None };
    let name = p.file_name()?.to_owned();
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = match std::fs::canonicalize(dir) {
        Ok(d) => d,
        // Not made yet: absolute, `..` and `.` taken lexically, then the longest part
        // that exists resolved (links followed) and the rest appended, so a directory
        // reached through a link is the directory itself.
        Err(_) => {
            let abs = std::env::current_dir().ok()?.join(dir);
            let mut out = PathBuf::new();
            for c in abs.components() {
                match c {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::CurDir => {}
                    c => out.push(c),
                }
            }
            let existing = out.ancestors().find_map(|a| std::fs::canonicalize(a).ok().map(|real| (a, real)));
            match existing {
                Some((a, real)) => real.join(out.strip_prefix(a).ok()?),
                None => out,
            }
        }
    };
    Some(dir.join(name))
}

/// Checks, before a long run, that `path` can become a file: it is not a directory and
/// the nearest existing ancestor is a directory. A run that would fail only when writing
/// its results wastes the run; a user mistyping `--trace reports/` learns it at once.
/// A link is judged by the file it names; a device or FIFO is written in place.
pub fn check_output_file(path: &Path) -> Result<(), String> {
    let path = &match target_of(path).map_err(|e| e.to_string())? {
        Target::InPlace(_) => return Ok(()),
        Target::Atomic(p) => p,
    };
    if path.is_dir() {
        return Err(format!("{} is a directory, not a file", path.display()));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    check_output_dir(dir)?;
    // Where the directory exists, make sure a file can be created in it (the temporary
    // file an atomic write needs): `/proc/x`, a read-only mount.
    if dir.is_dir() {
        let probe = temp_path(&dir.join("probe"));
        std::fs::File::create(&probe).map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
    }
    Ok(())
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
    /// None: a special file written in place (see [`write_atomic`]).
    tmp: Option<PathBuf>,
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> std::io::Result<AtomicFile> {
        let path = match target_of(path)? {
            Target::InPlace(p) => {
                let file = std::io::BufWriter::new(open_in_place(&p)?);
                return Ok(AtomicFile { tmp: None, path: p, file: Some(file) });
            }
            Target::Atomic(p) => p,
        };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        remove_stale_temps(dir);
        let tmp = temp_path(&path);
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        Ok(AtomicFile { tmp: Some(tmp), path, file: Some(file) })
    }

    pub fn writer(&mut self) -> Option<&mut std::io::BufWriter<std::fs::File>> {
        self.file.as_mut()
    }

    pub fn commit(mut self) -> std::io::Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return self.file.take().map_or(Ok(()), |mut f| f.flush());
        };
        if let Some(mut f) = self.file.take() {
            f.flush()?;
            f.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.file = None;
            if let Some(tmp) = &self.tmp {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// Refuses two outputs of one command that are the same file under any spelling (e.g.
/// `--json f --junit f`): the second would replace the first. `outputs` are (flag, path).
pub fn distinct_outputs(outputs: &[(&str, Option<&Path>)]) -> Result<(), String> {
    let mut seen: Vec<(&str, &Path, PathBuf)> = Vec::new();
    for &(flag, path) in outputs {
        let Some(path) = path else { continue };
        let Some(id) = output_identity(path) else { continue };
        if let Some((other, other_path, _)) = seen.iter().find(|(_, _, i)| *i == id) {
            return Err(format!(
                "{other} {} and {flag} {} are the same file; give each its own",
                other_path.display(),
                path.display()
            ));
        }
        seen.push((flag, path, id));
    }
    Ok(())
}

/// The directories `create_dir_all(dir)` would make now: the ancestors of `dir` that do
/// not exist yet, deepest first. Kept so that a run refused after making its output
/// directory (a schedule that cannot be followed) can leave nothing behind.
pub fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| a.symlink_metadata().is_err())
        .map(Path::to_path_buf)
        .collect()
}

/// Removes what [`missing_dirs`] listed, deepest first, where it is still empty: a
/// directory something else wrote into meanwhile stays.
pub fn remove_empty_dirs(dirs: &[PathBuf]) {
    let mut dirs = dirs.to_vec();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}

/// Opens `path` for a stream that is written in place as it grows (a sweep's records
/// file, flushed per batch so `--resume` can continue it after a kill): not through a
/// temporary file, since a partial file is the point. A device, a FIFO or this process's
/// own standard output is opened as [`write_atomic`] opens it (sharing the descriptor's
/// position, so the records and the run's printing do not write over each other); a
/// link is followed and stays; anything else is created or truncated.
pub fn create_streamed(path: &Path) -> std::io::Result<std::fs::File> {
    match target_of(path)? {
        Target::InPlace(p) => open_in_place(&p),
        Target::Atomic(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::File::create(&p)
        }
    }
}

/// Refuses an output that is one of the command's input files under any spelling (e.g.
/// `check s.json --json s.json`, or a link to it): the run would replace what it read, a
/// scenario lost to a records file. `outputs` are (flag, path).
pub fn outputs_not_inputs(outputs: &[(&str, Option<&Path>)], inputs: &[&Path]) -> Result<(), String> {
    let inputs: Vec<(&Path, PathBuf)> = inputs.iter().filter_map(|p| output_identity(p).map(|id| (*p, id))).collect();
    for &(flag, path) in outputs {
        let Some(path) = path else { continue };
        let Some(id) = output_identity(path) else { continue };
        if let Some((input, _)) = inputs.iter().find(|(_, i)| *i == id) {
            return Err(format!(
                "{flag} {}: that is the input {}; the run would replace what it reads",
                path.display(),
                input.display()
            ));
        }
    }
    Ok(())
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

    /// An output named through a symbolic link writes the file the link names and keeps
    /// the link; a FIFO (like a device such as `/dev/null`) is written in place, never
    /// replaced by a plain file.
    #[cfg(unix)]
    #[test]
    fn links_are_written_through_and_special_files_in_place() {
        use std::os::unix::fs::FileTypeExt;
        let d = scratch("special");
        let target = d.join("real.json");
        std::fs::write(&target, "old").unwrap();
        let link = d.join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mut streamed = AtomicFile::create(&link).unwrap();
        streamed.writer().unwrap().write_all(b"streamed").unwrap();
        streamed.commit().unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "streamed");

        assert!(names_a_descriptor(Path::new("/dev/stdout")) && names_a_descriptor(Path::new("/proc/self/fd/1")));
        assert!(names_a_descriptor(Path::new("/dev/fd/2")) && names_a_descriptor(Path::new("/proc/42/fd/1")));
        assert!(!names_a_descriptor(Path::new("/dev/shm/report.json")) && !names_a_descriptor(Path::new("/dev")));
        assert!(!names_a_descriptor(Path::new("dev/stdout")), "relative: a file in ./dev");
        // A loop of links is an error, not a plain file put where a link was.
        let (a, b) = (d.join("loop-a"), d.join("loop-b"));
        std::os::unix::fs::symlink("loop-b", &a).unwrap();
        std::os::unix::fs::symlink("loop-a", &b).unwrap();
        assert!(check_output_file(&a).is_err());
        assert!(write_atomic(&a, b"x").is_err());
        assert!(std::fs::symlink_metadata(&a).unwrap().file_type().is_symlink(), "the link is left alone");
        // One file, two spellings: the same identity.
        let sub = d.join("o");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(output_identity(&sub.join("r.json")), output_identity(&d.join("o/../o/r.json")));
        assert_eq!(output_identity(&link), output_identity(&target), "a link is the file it names");
        assert_ne!(output_identity(&sub.join("r.json")), output_identity(&sub.join("s.json")));
        // A directory not made yet, reached through a link to one that exists: the same
        // identity as through the real path (the part that exists is resolved).
        std::os::unix::fs::symlink("o", d.join("o-link")).unwrap();
        assert_eq!(output_identity(&d.join("o-link/new/r.json")), output_identity(&sub.join("new/r.json")));

        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo on this machine
        }
        for streamed in [false, true] {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(&fifo).unwrap())
            };
            if streamed {
                let mut f = AtomicFile::create(&fifo).unwrap();
                f.writer().unwrap().write_all(b"through the pipe").unwrap();
                f.commit().unwrap();
            } else {
                write_atomic(&fifo, b"through the pipe").unwrap();
            }
            assert_eq!(reader.join().unwrap(), b"through the pipe");
            assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a FIFO");
        }
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
