//! Block1/Block2 option values (RFC 7959 §2.2): `NUM` (up to 20 bits) | `M` | `SZX` (3 bits).

use bytes::Bytes;

use super::message::encode_uint;

/// A decoded Block1 or Block2 option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockValue {
    /// Block number.
    pub num: u32,
    /// More blocks follow.
    pub more: bool,
    /// Size exponent: block size = 2^(szx + 4), 0..=6.
    pub szx: u8,
}

/// Why a block option value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// More than 3 bytes (RFC 7959 §2.2: 0-3 bytes).
    #[error("block option longer than 3 bytes (RFC 7959 §2.2)")]
    TooLong,
    /// SZX 7 is reserved (RFC 7959 §2.2).
    #[error("block SZX 7 is reserved (RFC 7959 §2.2)")]
    ReservedSzx,
}

impl BlockValue {
    /// Largest block number that fits the 3-byte form.
    pub const MAX_NUM: u32 = (1 << 20) - 1;

    /// Parses the option bytes.
    pub fn decode(value: &[u8]) -> Result<Self, BlockError> {
        if value.len() > 3 {
            return Err(BlockError::TooLong);
        }
        let raw = value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let szx = (raw & 0x7) as u8;
        if szx == 7 {
            return Err(BlockError::ReservedSzx);
        }
        Ok(Self { num: raw >> 4, more: raw & 0x8 != 0, szx })
    }

    /// Minimal option bytes.
    pub fn encode(self) -> Bytes {
        encode_uint(((self.num & Self::MAX_NUM) << 4) | (u32::from(self.more) << 3) | u32::from(self.szx & 0x7))
    }

    /// Block size in bytes.
    pub fn size(self) -> usize {
        szx_to_size(self.szx)
    }

    /// Byte offset of this block.
    pub fn offset(self) -> usize {
        self.num as usize * self.size()
    }
}

/// 2^(szx+4).
pub fn szx_to_size(szx: u8) -> usize {
    1usize << (u32::from(szx.min(6)) + 4)
}

/// Largest SZX whose block size is at most `size` (16..=1024; smaller values give SZX 0).
pub fn size_to_szx(size: usize) -> u8 {
    let mut szx = 0u8;
    while szx < 6 && szx_to_size(szx + 1) <= size {
        szx += 1;
    }
    szx
}
