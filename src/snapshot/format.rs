//! The file layout: a fixed 24-byte header, then the payload.
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `b"VCSNAP\r\n"` |
//! | 8..12 | format version, `u32` little-endian |
//! | 12..20 | payload length in bytes, `u64` little-endian |
//! | 20..24 | CRC-32 (ISO-HDLC, as `crc32fast` computes it) of bytes 8..20 followed by the payload, `u32` little-endian |
//! | 24.. | payload (see [`super::codec`]) |
//!
//! The checksum covers the version and the length as well as the payload, so a flipped bit
//! anywhere but the magic is caught by it (CRC-32 detects every single-bit error), and one in the
//! magic by the magic check. The `\r\n` in the magic catches a file mangled by newline
//! conversion.

/// The first eight bytes of every snapshot.
pub(crate) const MAGIC: [u8; 8] = *b"VCSNAP\r\n";
/// Header length.
pub(crate) const HEADER_LEN: usize = 24;
/// Largest payload accepted (4 GiB).
pub(crate) const MAX_PAYLOAD: u64 = 1 << 32;

use std::io::{self, BufWriter, Seek, SeekFrom, Write};

/// Why bytes are not a snapshot.
pub(crate) type Invalid = String;

/// The checksum's state after the header fields it covers (the version and the length).
fn checksum_of_header(version: u32, len: u64) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    h.update(&version.to_le_bytes());
    h.update(&len.to_le_bytes());
    h
}

fn checksum(version: u32, len: u64, payload: &[u8]) -> u32 {
    let mut h = checksum_of_header(version, len);
    h.update(payload);
    h.finalize()
}

/// The header for `payload` in format `version`.
#[cfg(test)]
pub(crate) fn header(version: u32, payload: &[u8]) -> [u8; HEADER_LEN] {
    let len = payload.len() as u64;
    header_of(version, len, checksum(version, len, payload))
}

fn header_of(version: u32, len: u64, crc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&version.to_le_bytes());
    h[12..20].copy_from_slice(&len.to_le_bytes());
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Writes a whole snapshot file into `out`, streaming the payload: a placeholder header, then
/// the `len` bytes that `payload` writes (through a buffer, checksummed as they go by), then the
/// real header over the placeholder. So a save never holds the encoded payload in memory.
pub(crate) fn write_sealed<F: Write + Seek>(
    out: &mut F,
    version: u32,
    len: u64,
    payload: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    /// Passes bytes on, checksumming and counting them.
    struct Sealing<W> {
        inner: W,
        crc: crc32fast::Hasher,
        written: u64,
    }
    impl<W: Write> Write for Sealing<W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.crc.update(&buf[..n]);
            self.written += n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }
    out.write_all(&[0; HEADER_LEN])?;
    let (crc, written) = {
        let mut sealing = Sealing {
            inner: BufWriter::with_capacity(1 << 20, &mut *out),
            crc: checksum_of_header(version, len),
            written: 0,
        };
        payload(&mut sealing)?;
        sealing.flush()?;
        (sealing.crc.clone(), sealing.written)
    };
    if written != len {
        return Err(io::Error::other(format!(
            "the payload came to {written} bytes, not the {len} measured"
        )));
    }
    out.seek(SeekFrom::Start(0))?;
    out.write_all(&header_of(version, len, crc.finalize()))
}

/// Checks the header against the whole file and returns the format version and the payload.
#[cfg(test)]
pub(crate) fn open(file: &[u8]) -> Result<(u32, &[u8]), Invalid> {
    let (sealed, payload) = open_unverified(file)?;
    sealed.verify(payload)?;
    Ok((sealed.version, payload))
}

/// What the header says about the payload, its checksum not verified yet.
#[derive(Clone, Copy)]
pub(crate) struct Sealed {
    pub(crate) version: u32,
    crc: u32,
}

impl Sealed {
    /// Verifies the payload's checksum.
    pub(crate) fn verify(self, payload: &[u8]) -> Result<(), Invalid> {
        if checksum(self.version, payload.len() as u64, payload) != self.crc {
            return Err("checksum mismatch: the file is damaged".into());
        }
        Ok(())
    }
}

/// [`open`] without the checksum, which the caller must [`Sealed::verify`] before using what
/// it decodes from the payload.
pub(crate) fn open_unverified(file: &[u8]) -> Result<(Sealed, &[u8]), Invalid> {
    if file.len() < HEADER_LEN {
        return Err(format!(
            "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
            file.len()
        ));
    }
    let (head, payload) = file.split_at(HEADER_LEN);
    if head[0..8] != MAGIC {
        return Err("not a visitor-counter snapshot (wrong magic bytes)".into());
    }
    let mut b4 = [0u8; 4];
    let mut b8 = [0u8; 8];
    b4.copy_from_slice(&head[8..12]);
    let version = u32::from_le_bytes(b4);
    b8.copy_from_slice(&head[12..20]);
    let len = u64::from_le_bytes(b8);
    b4.copy_from_slice(&head[20..24]);
    let crc = u32::from_le_bytes(b4);
    if len > MAX_PAYLOAD {
        return Err(format!(
            "claims a payload of {len} bytes, over the 4 GiB limit"
        ));
    }
    if len != payload.len() as u64 {
        return Err(format!(
            "truncated or padded: header says {len} payload bytes, file has {}",
            payload.len()
        ));
    }
    Ok((Sealed { version, crc }, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_bit_flip_is_caught() {
        let payload = b"some payload bytes".to_vec();
        let mut file = header(1, &payload).to_vec();
        file.extend_from_slice(&payload);
        assert_eq!(open(&file).unwrap(), (1, &payload[..]));
        for bit in 0..file.len() * 8 {
            let mut bad = file.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(open(&bad).is_err(), "flip of bit {bit} not caught");
        }
        for cut in 0..file.len() {
            assert!(
                open(&file[..cut]).is_err(),
                "truncation to {cut} not caught"
            );
        }
    }

    #[test]
    fn a_huge_length_claim_is_rejected_before_anything_is_read() {
        let mut file = header(1, b"").to_vec();
        file[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(open(&file).unwrap_err().contains("4 GiB"));
    }

    #[test]
    fn a_streamed_file_is_the_header_then_the_payload() {
        let payload = vec![7u8; 3 << 20];
        let mut out = io::Cursor::new(Vec::new());
        write_sealed(&mut out, 3, payload.len() as u64, |w| {
            payload.chunks(1000).try_for_each(|c| w.write_all(c))
        })
        .unwrap();
        let file = out.into_inner();
        assert_eq!(file[..HEADER_LEN], header(3, &payload));
        assert_eq!(open(&file).unwrap(), (3, &payload[..]));
        // A payload that is not the length measured is an error.
        let mut out = io::Cursor::new(Vec::new());
        let err = write_sealed(&mut out, 3, 10, |w| w.write_all(b"short")).unwrap_err();
        assert!(err.to_string().contains("5 bytes, not the 10"), "{err}");
    }
}
