//! Snapshot files on disk: atomic replacement, bounded reads, leftovers, moving bad files aside.
//!
//! `save` writes `<name>.tmp-<pid>-<n>` in the snapshot's directory, fsyncs it, renames it over
//! the snapshot and fsyncs the directory. A crash at any point leaves the old or the new file
//! under the snapshot's name. On any error the temporary file is removed and the old snapshot is
//! untouched; a failed fsync is never retried on the same file (the next save starts a new one).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::format::{HEADER_LEN, MAX_PAYLOAD};
use crate::error::SnapshotError;

/// The steps of a save, for fault injection in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Create,
    Write,
    Sync,
    Rename,
    SyncDir,
}

fn io_err(path: &Path, action: &'static str, source: io::Error) -> SnapshotError {
    SnapshotError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn temp_prefix(path: &Path) -> OsString {
    let mut p = path.file_name().unwrap_or_default().to_os_string();
    p.push(".tmp-");
    p
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes the new content of `path`, atomically: `fill` writes it into the temporary file.
pub(crate) fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), SnapshotError> {
    write_atomic_with(path, fill, |_| Ok(()))
}

/// [`write_atomic`] with `fault` called before each step; an `Err` from it fails that step.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
    fault: impl Fn(Step) -> io::Result<()>,
) -> Result<(), SnapshotError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut name = temp_prefix(path);
    name.push(format!(
        "{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir_of(path).join(name);
    // Runs one step, after giving the fault injector its chance to fail it.
    fn run_step<T>(
        fault: &impl Fn(Step) -> io::Result<()>,
        path: &Path,
        s: Step,
        action: &'static str,
        run: &mut dyn FnMut() -> io::Result<T>,
    ) -> Result<T, SnapshotError> {
        fault(s)
            .and_then(|()| run())
            .map_err(|e| io_err(path, action, e))
    }
    let result = (|| {
        let mut f = run_step(
            &fault,
            path,
            Step::Create,
            "create a temporary file for",
            &mut || OpenOptions::new().write(true).create_new(true).open(&tmp),
        )?;
        let mut fill = Some(fill);
        run_step(&fault, path, Step::Write, "write", &mut || {
            fill.take().map_or(Ok(()), |fill| fill(&mut f))
        })?;
        run_step(&fault, path, Step::Sync, "fsync", &mut || f.sync_all())?;
        drop(f);
        run_step(
            &fault,
            path,
            Step::Rename,
            "rename the temporary file over",
            &mut || fs::rename(&tmp, path),
        )
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // The new file is in place; make the rename itself durable.
    run_step(
        &fault,
        path,
        Step::SyncDir,
        "fsync the directory of",
        &mut || sync_dir(dir_of(path)),
    )
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The whole file, or `None` when it does not exist. Refuses files larger than any snapshot can
/// be, and never allocates more than the file's real size (plus one byte).
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, SnapshotError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "open", e)),
    };
    let len = f.metadata().map_err(|e| io_err(path, "stat", e))?.len();
    let max = MAX_PAYLOAD + HEADER_LEN as u64;
    if len > max {
        return Err(SnapshotError::Corrupt {
            path: Some(path.to_path_buf()),
            reason: format!("{len} bytes, larger than any snapshot can be"),
        });
    }
    // One read of the size `stat` gave, into a buffer of that size that is not zeroed first (a
    // zeroed one would be fresh pages, every one a fault, where the allocator can hand back
    // memory freed before), then a check that the file did not shrink or grow meanwhile.
    let mut f = f;
    let mut bytes = Vec::with_capacity(len as usize);
    (&mut f)
        .take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(path, "read", e))?;
    if bytes.len() as u64 != len {
        return Err(io_err(
            path,
            "read",
            io::Error::other("the file shrank while it was read"),
        ));
    }
    if f.read(&mut [0]).map_err(|e| io_err(path, "read", e))? != 0 {
        return Err(io_err(
            path,
            "read",
            io::Error::other("the file grew while it was read"),
        ));
    }
    Ok(Some(bytes))
}

/// Removes temporary files that an interrupted save left next to `path`.
pub(crate) fn clean_temporaries(path: &Path) {
    let prefix = temp_prefix(path);
    let Some(prefix) = prefix.to_str() else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir_of(path)) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix))
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Renames an unreadable snapshot to `<name>.corrupt-<unix_time>` and returns the new path.
pub(crate) fn move_aside(path: &Path, unix_time: i64) -> Result<PathBuf, SnapshotError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{unix_time}"));
    let to = dir_of(path).join(name);
    fs::rename(path, &to).map_err(|e| io_err(path, "move aside", e))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir() -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "vc-file-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_failure_at_any_step_keeps_the_old_file_and_no_temporary() {
        for failing in [Step::Create, Step::Write, Step::Sync, Step::Rename] {
            let d = dir();
            let path = d.join("counter.snapshot");
            write_atomic(&path, |f| f.write_all(b"old")).unwrap();
            let err = write_atomic_with(
                &path,
                |f| f.write_all(b"new"),
                |s| {
                    if s == failing {
                        Err(io::Error::other("injected"))
                    } else {
                        Ok(())
                    }
                },
            )
            .unwrap_err();
            assert!(err.to_string().contains("injected"), "{err}");
            assert_eq!(fs::read(&path).unwrap(), b"old", "{failing:?}");
            assert_eq!(
                fs::read_dir(&d).unwrap().count(),
                1,
                "{failing:?} left a file"
            );
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn leftovers_are_cleaned_and_other_files_kept() {
        let d = dir();
        let path = d.join("c.snap");
        fs::write(d.join("c.snap.tmp-1-2"), b"x").unwrap();
        fs::write(d.join("other.tmp-1-2"), b"x").unwrap();
        clean_temporaries(&path);
        assert!(!d.join("c.snap.tmp-1-2").exists());
        assert!(d.join("other.tmp-1-2").exists());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let path = dir().join("no/such/dir/c.snap");
        assert!(write_atomic(&path, |f| f.write_all(b"x")).is_err());
        assert!(read(&path).unwrap().is_none());
    }
}
