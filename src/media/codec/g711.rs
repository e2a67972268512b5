//! G.711 µ-law (PCMU) and A-law (PCMA), ITU-T G.711: µ-law on 14-bit
//! samples (bias 33, clip 8159), A-law on 13-bit ones; decoding by a table
//! built at compile time.

/// µ-law byte of a 16-bit sample (G.711 §2: the 14-bit sample is the
/// 16-bit one truncated).
pub fn ulaw_encode(sample: i16) -> u8 {
    let value = i32::from(sample) >> 2;
    let (sign, magnitude) = if value < 0 {
        (0x80, -value)
    } else {
        (0, value)
    };
    // The biased magnitude tops out in segment 7 (0x1FFF).
    let biased = (magnitude.min(8159) + 0x21).min(0x1FFF);
    let exponent = 26 - biased.leading_zeros() as i32;
    let mantissa = (biased >> (exponent + 1)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// A-law byte of a 16-bit sample (G.711 §3: 13-bit sample, even bits
/// inverted).
pub fn alaw_encode(sample: i16) -> u8 {
    const SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let Some(segment) = SEGMENT_END.iter().position(|&end| value <= end) else {
        return 0x7F ^ mask;
    };
    let low = if segment < 2 {
        (value >> 1) & 0x0F
    } else {
        (value >> segment) & 0x0F
    };
    ((((segment as i32) << 4) | low) as u8) ^ mask
}

const fn ulaw_decode_one(byte: u8) -> i16 {
    let u = !byte;
    let magnitude = ((((u & 0x0F) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 {
        0x84 - magnitude
    } else {
        magnitude - 0x84
    }) as i16
}

const fn alaw_decode_one(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut magnitude = ((a & 0x0F) as i32) << 4;
    let segment = (a & 0x70) >> 4;
    magnitude = match segment {
        0 => magnitude + 8,
        1 => magnitude + 0x108,
        _ => (magnitude + 0x108) << (segment - 1),
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// The linear value of every µ-law byte.
pub static ULAW_TO_LINEAR: [i16; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = ulaw_decode_one(byte as u8);
        byte += 1;
    }
    table
};

/// The linear value of every A-law byte.
pub static ALAW_TO_LINEAR: [i16; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = alaw_decode_one(byte as u8);
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code decodes to a value that encodes back to it (the two zero
    /// codes of µ-law meet at 0xFF), and values between two codes go to the
    /// nearer one within a step.
    #[test]
    fn codes_survive_a_round_trip() {
        for byte in 0..=255u8 {
            let ulaw = ULAW_TO_LINEAR[usize::from(byte)];
            if byte != 0x7F {
                assert_eq!(ulaw_encode(ulaw), byte, "µ-law {byte:#04x} = {ulaw}");
            }
            let alaw = ALAW_TO_LINEAR[usize::from(byte)];
            assert_eq!(alaw_encode(alaw), byte, "A-law {byte:#04x} = {alaw}");
        }
    }

    #[test]
    fn known_points_of_the_laws() {
        // Silence and full scale (G.711 Tables 1 and 2).
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ULAW_TO_LINEAR[0x80], 32124);
        assert_eq!(ALAW_TO_LINEAR[0xAA], 32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        // Small values stay small; the error is within one quantisation step.
        for sample in (-32000..32000).step_by(97) {
            let back = i32::from(ULAW_TO_LINEAR[usize::from(ulaw_encode(sample))]);
            let step = (i32::from(sample).abs() / 16).max(16);
            assert!(
                (back - i32::from(sample)).abs() <= step,
                "{sample} → {back}"
            );
            let back = i32::from(ALAW_TO_LINEAR[usize::from(alaw_encode(sample))]);
            assert!(
                (back - i32::from(sample)).abs() <= step,
                "{sample} → {back}"
            );
        }
    }
}
