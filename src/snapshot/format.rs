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

/// Why bytes are not a snapshot.
pub(crate) type Invalid = String;

fn checksum(version: u32, len: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&version.to_le_bytes());
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// The header for `payload` in format `version`.
pub(crate) fn header(version: u32, payload: &[u8]) -> [u8; HEADER_LEN] {
    let len = payload.len() as u64;
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&version.to_le_bytes());
    h[12..20].copy_from_slice(&len.to_le_bytes());
    h[20..24].copy_from_slice(&checksum(version, len, payload).to_le_bytes());
    h
}

/// Checks the header against the whole file and returns the format version and the payload.
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
}
