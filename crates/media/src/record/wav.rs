//! The canonical 44-byte PCM WAV header, written and patched by hand.
//!
//! Why not hound's `WavWriter`: a recording must stay a valid file while it
//! grows (a crash loses at most the last second), so the recorder patches
//! the two size fields on its own schedule and can fsync after doing so;
//! it writes whole frames as byte slices; and `repair` needs to know exactly
//! where the sizes and the data live. A fixed layout (RIFF, `fmt ` with
//! PCM tag 1, `data` at offset 36) gives all three with a few lines.
//! Readers (hound, players) read it as any WAV.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use super::RecordError;

/// Length of the header; the data starts here.
pub const HEADER_LEN: u64 = 44;
/// Offset of the RIFF chunk size (file length - 8).
const RIFF_SIZE_AT: u64 = 4;
/// Offset of the data chunk size.
const DATA_SIZE_AT: u64 = 40;
/// The largest data chunk whose RIFF size still fits in 32 bits.
pub const MAX_DATA_LEN: u64 = u32::MAX as u64 - (HEADER_LEN - 8);

/// A 16-bit PCM header for `data_len` bytes of audio.
pub fn header(channels: u16, sample_rate: u32, data_len: u32) -> [u8; HEADER_LEN as usize] {
    let block_align = channels * 2;
    let byte_rate = sample_rate * u32::from(block_align);
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// Rewrites the two size fields of a canonical header for `data_len` bytes
/// of data, then leaves the position at the end of the data.
pub fn patch_sizes<W: Write + Seek + ?Sized>(w: &mut W, data_len: u64) -> io::Result<()> {
    let data = u32::try_from(data_len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "WAV data over 4 GiB"))?;
    w.seek(SeekFrom::Start(RIFF_SIZE_AT))?;
    w.write_all(&data.saturating_add(36).to_le_bytes())?;
    w.seek(SeekFrom::Start(DATA_SIZE_AT))?;
    w.write_all(&data.to_le_bytes())?;
    w.seek(SeekFrom::Start(HEADER_LEN + data_len))?;
    Ok(())
}

/// Where the audio of a WAV file lives, from its chunk list.
struct Layout {
    block_align: u16,
    byte_rate: u32,
    /// Offset of the data chunk's size field.
    data_size_at: u64,
    data_start: u64,
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Walks the chunks up to `data`. The data chunk's own size is ignored: in
/// a cut file it is stale, and everything after its header is audio.
fn layout<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<Layout, RecordError> {
    let mut riff = [0u8; 12];
    r.seek(SeekFrom::Start(0))?;
    r.read_exact(&mut riff)
        .map_err(|_| RecordError::NotWav("shorter than a RIFF header"))?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Err(RecordError::NotWav("no RIFF/WAVE signature"));
    }
    let mut pos = 12u64;
    let mut fmt: Option<(u16, u32)> = None;
    loop {
        let mut ch = [0u8; 8];
        if pos + 8 > file_len {
            return Err(RecordError::NotWav("no data chunk"));
        }
        r.seek(SeekFrom::Start(pos))?;
        r.read_exact(&mut ch)?;
        let size = u64::from(le_u32(&ch[4..8]));
        match &ch[0..4] {
            b"fmt " => {
                let mut f = [0u8; 16];
                r.read_exact(&mut f)
                    .map_err(|_| RecordError::NotWav("fmt chunk cut short"))?;
                let block_align = le_u16(&f[12..14]);
                if block_align == 0 {
                    return Err(RecordError::NotWav("zero block alignment"));
                }
                fmt = Some((block_align, le_u32(&f[8..12])));
            }
            b"data" => {
                let (block_align, byte_rate) =
                    fmt.ok_or(RecordError::NotWav("data chunk before fmt chunk"))?;
                return Ok(Layout {
                    block_align,
                    byte_rate,
                    data_size_at: pos + 4,
                    data_start: pos + 8,
                });
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
}

/// Fixes the header of a recording cut mid-write (a crash, a full disk):
/// the sizes are recomputed from the file's length and a trailing partial
/// sample frame is dropped. Returns the audio's duration. Running it on an
/// intact file changes nothing.
pub fn repair(path: &Path) -> Result<Duration, RecordError> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let file_len = f.metadata()?.len();
    let l = layout(&mut f, file_len)?;
    let avail = file_len.saturating_sub(l.data_start);
    let data_len = (avail - avail % u64::from(l.block_align))
        .min(MAX_DATA_LEN - MAX_DATA_LEN % u64::from(l.block_align));
    let new_len = l.data_start + data_len;
    if new_len != file_len {
        f.set_len(new_len)?;
    }
    let riff = u32::try_from(new_len - 8).map_err(|_| RecordError::NotWav("file over 4 GiB"))?;
    let data = u32::try_from(data_len).map_err(|_| RecordError::NotWav("file over 4 GiB"))?;
    f.seek(SeekFrom::Start(RIFF_SIZE_AT))?;
    f.write_all(&riff.to_le_bytes())?;
    f.seek(SeekFrom::Start(l.data_size_at))?;
    f.write_all(&data.to_le_bytes())?;
    f.sync_all()?;
    if l.byte_rate == 0 {
        return Err(RecordError::NotWav("zero byte rate"));
    }
    Ok(Duration::from_secs_f64(
        data_len as f64 / f64::from(l.byte_rate),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn header_fields_are_where_readers_expect_them() {
        let h = header(2, 8000, 640);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(le_u32(&h[4..8]), 676);
        assert_eq!(le_u16(&h[22..24]), 2);
        assert_eq!(le_u32(&h[24..28]), 8000);
        assert_eq!(le_u32(&h[28..32]), 32_000);
        assert_eq!(le_u16(&h[32..34]), 4);
        assert_eq!(le_u32(&h[40..44]), 640);
    }

    #[test]
    fn patch_rewrites_sizes_and_returns_to_the_end() {
        let mut c = Cursor::new(Vec::new());
        c.write_all(&header(1, 8000, 0)).unwrap();
        c.write_all(&[1, 2, 3, 4]).unwrap();
        patch_sizes(&mut c, 4).unwrap();
        assert_eq!(c.position(), 48);
        let v = c.into_inner();
        assert_eq!(le_u32(&v[4..8]), 40);
        assert_eq!(le_u32(&v[40..44]), 4);
    }

    #[test]
    fn layout_skips_unknown_chunks() {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF\0\0\0\0WAVE");
        v.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        v.extend_from_slice(&header(1, 8000, 0)[12..36]);
        v.extend_from_slice(b"data\0\0\0\0");
        let len = v.len() as u64;
        let l = layout(&mut Cursor::new(v), len).unwrap();
        assert_eq!(l.data_start, len);
        assert_eq!(l.block_align, 2);
    }
}
