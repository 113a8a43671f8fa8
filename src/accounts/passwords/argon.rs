//! argon2 over memory the caller owns. argon2's own `PasswordHasher`
//! allocates m KiB for every hash and frees it after; under load the
//! allocator keeps what was freed (a 19 MiB block per arena), so memory grew
//! with the number of threads that ever hashed. Here one buffer of blocks
//! is reused for hash after hash.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// The argon2id cost new hashes get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Cost {
    /// The argon2 parameters, or why these are out of argon2's range.
    pub fn params(&self) -> Result<Params, argon2::Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, Some(Params::DEFAULT_OUTPUT_LEN))
    }

    /// Blocks (1 KiB each) one hash at this cost fills; 0 for a cost argon2
    /// refuses (the configuration refuses it first).
    pub fn blocks(&self) -> usize {
        self.params().map_or(0, |p| p.block_count())
    }
}

/// A reusable buffer for one argon2 computation at a time. It is allocated
/// on first use with the blocks of the configured cost and kept; a stored
/// hash that needs more (an older, costlier one, upgraded at its next
/// sign-in) gets a buffer of its own for that one computation.
pub struct Memory {
    blocks: Vec<Block>,
    keep: usize,
}

impl Memory {
    pub fn new(cost: &Cost) -> Self {
        Self { blocks: Vec::new(), keep: cost.blocks() }
    }

    /// Bytes this buffer holds now.
    #[cfg(test)]
    pub fn held_bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }

    fn with<T>(&mut self, needed: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        if needed > self.keep {
            let mut once = vec![Block::new(); needed];
            return f(&mut once);
        }
        if self.blocks.len() < needed {
            self.blocks = vec![Block::new(); self.keep];
        }
        f(&mut self.blocks[..needed])
    }
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of `password` at
/// `cost`, with a fresh salt.
pub fn hash(memory: &mut Memory, cost: &Cost, password: &str) -> Result<String, argon2::password_hash::Error> {
    let params = cost.params()?;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_buf)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    memory.with(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, blocks)
    })?;
    phc(&params, &salt, &out)
}

fn phc(params: &Params, salt: &SaltString, out: &[u8]) -> Result<String, argon2::password_hash::Error> {
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(out)?),
    };
    Ok(hash.to_string())
}

/// True when `password` matches `stored`, computed with the stored hash's
/// own algorithm, version, parameters, salt and output length (so hashes
/// made at another cost verify). A malformed hash never matches.
pub fn verify(memory: &mut Memory, stored: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_buf) else { return false };
    // An Output is at most 64 bytes (password-hash's limit).
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let computed = memory.with(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), raw_salt, out, blocks)
    });
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// True when a stored hash was made otherwise than new hashes are now
/// (algorithm, version, cost or output length): it is upgraded at the
/// next successful sign-in.
pub fn needs_rehash(stored: &str, cost: &Cost) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return true };
    let Ok(params) = Params::try_from(&parsed) else { return true };
    parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13.into())
        || (params.m_cost(), params.t_cost(), params.p_cost()) != (cost.memory_kib, cost.iterations, cost.parallelism)
        || params.output_len() != Some(Params::DEFAULT_OUTPUT_LEN)
}

/// A well-formed hash at `cost` that no password matches (its output is
/// random, not computed): verifying against it costs exactly what verifying
/// a real hash at `cost` does, through the same code.
pub fn unmatchable(cost: &Cost) -> Result<String, argon2::password_hash::Error> {
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    OsRng.fill_bytes(&mut out);
    phc(&cost.params()?, &SaltString::generate(&mut OsRng), &out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    const SMALL: Cost = Cost { memory_kib: 64, iterations: 1, parallelism: 1 };

    /// Hashes made by argon2's own hasher, at various parameters.
    fn reference_hash(alg: Algorithm, m: u32, t: u32, p: u32, out_len: usize, password: &str) -> String {
        let params = Params::new(m, t, p, Some(out_len)).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(alg, Version::V0x13, params).hash_password(password.as_bytes(), &salt).unwrap().to_string()
    }

    #[test]
    fn verifies_what_argon2_verifies_at_each_hashs_own_parameters() {
        let mut memory = Memory::new(&SMALL);
        let cases = [
            (Algorithm::Argon2id, 64, 1, 1, 32),
            (Algorithm::Argon2id, 256, 3, 2, 32),
            (Algorithm::Argon2id, 32, 2, 4, 16),
            (Algorithm::Argon2i, 128, 2, 1, 64),
            (Algorithm::Argon2d, 96, 1, 1, 32),
        ];
        for (alg, m, t, p, len) in cases {
            let stored = reference_hash(alg, m, t, p, len, "right password");
            let parsed = PasswordHash::new(&stored).unwrap();
            for guess in ["right password", "right passworD", ""] {
                let ours = verify(&mut memory, &stored, guess);
                let theirs = Argon2::default().verify_password(guess.as_bytes(), &parsed).is_ok();
                assert_eq!(ours, theirs, "{stored} with {guess:?}");
                assert_eq!(ours, guess == "right password", "{stored} with {guess:?}");
            }
        }
    }

    #[test]
    fn our_hashes_are_argon2id_at_the_cost_and_argon2_verifies_them() {
        let mut memory = Memory::new(&SMALL);
        let stored = hash(&mut memory, &SMALL, "correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{stored}");
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horse batterY", &parsed).is_err());
        assert!(verify(&mut memory, &stored, "correct horse battery"));
        assert!(!verify(&mut memory, &stored, "correct horse batterY"));
        assert_ne!(hash(&mut memory, &SMALL, "same").unwrap(), hash(&mut memory, &SMALL, "same").unwrap());
    }

    #[test]
    fn malformed_hashes_never_match() {
        let mut memory = Memory::new(&SMALL);
        let good = hash(&mut memory, &SMALL, "pw").unwrap();
        let no_output = good.rsplit_once('$').unwrap().0.to_owned();
        let bad_params = good.replace("m=64", "m=abc");
        let unknown_param = good.replace("p=1", "p=1,x=2");
        let too_little_memory = good.replace("m=64", "m=1");
        let other_algorithm = good.replace("argon2id", "scrypt");
        let malformed = [&no_output, &bad_params, &unknown_param, &too_little_memory, &other_algorithm];
        for stored in ["", "not a hash", "$argon2id$"].into_iter().chain(malformed.iter().map(|s| s.as_str())) {
            assert!(!verify(&mut memory, stored, "pw"), "{stored:?} matched");
        }
        assert!(verify(&mut memory, &good, "pw"), "the buffer still works after the failures");
    }

    #[test]
    fn the_buffer_is_kept_at_the_configured_size_and_costlier_hashes_still_verify() {
        let mut memory = Memory::new(&SMALL);
        assert_eq!(memory.held_bytes(), 0, "allocated on first use");
        let costlier = reference_hash(Algorithm::Argon2id, 512, 1, 1, 32, "pw");
        assert!(verify(&mut memory, &costlier, "pw"));
        assert_eq!(memory.held_bytes(), 0, "a costlier hash used a buffer of its own");
        let stored = hash(&mut memory, &SMALL, "pw").unwrap();
        assert_eq!(memory.held_bytes(), 64 * 1024);
        let cheaper = reference_hash(Algorithm::Argon2id, 32, 1, 1, 32, "pw");
        assert!(verify(&mut memory, &cheaper, "pw") && verify(&mut memory, &stored, "pw"));
        assert_eq!(memory.held_bytes(), 64 * 1024);
    }

    #[test]
    fn rehash_is_needed_when_anything_differs_from_the_cost() {
        let mut memory = Memory::new(&SMALL);
        assert!(!needs_rehash(&hash(&mut memory, &SMALL, "pw").unwrap(), &SMALL));
        assert!(needs_rehash(&reference_hash(Algorithm::Argon2id, 128, 1, 1, 32, "pw"), &SMALL));
        assert!(needs_rehash(&reference_hash(Algorithm::Argon2id, 64, 2, 1, 32, "pw"), &SMALL));
        assert!(needs_rehash(&reference_hash(Algorithm::Argon2id, 64, 1, 2, 32, "pw"), &SMALL));
        assert!(needs_rehash(&reference_hash(Algorithm::Argon2id, 64, 1, 1, 16, "pw"), &SMALL));
        assert!(needs_rehash(&reference_hash(Algorithm::Argon2i, 64, 1, 1, 32, "pw"), &SMALL));
    }

    #[test]
    fn the_unmatchable_hash_has_the_cost_and_matches_nothing() {
        let mut memory = Memory::new(&SMALL);
        let dummy = unmatchable(&SMALL).unwrap();
        assert!(!needs_rehash(&dummy, &SMALL), "{dummy}");
        assert!(!verify(&mut memory, &dummy, "") && !verify(&mut memory, &dummy, "any password"));
    }
}
