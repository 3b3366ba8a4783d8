//! How much the tool keeps: the `[cache]` table of the state file, or its
//! defaults. Logs and kept dependency scans are removed by age and, oldest
//! first, past a size (as ccache's `max_size`); the engine's CAS is bounded
//! by buildbox-casd's own quota, which evicts as it goes.

use anyhow::{Context, Result};
use bytesize::ByteSize;
use serde::Deserialize;

use crate::remote::engine::Quota;
use crate::tree::state::State;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Logs and scans not written for this many days go.
    pub max_age_days: u64,
    /// Logs and scans together, past which the oldest go.
    pub max_size: ByteSize,
    /// The engine's CAS and action cache (`--quota-high`; it evicts down to 80 %).
    pub engine_max_size: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_age_days: 30, max_size: ByteSize::gib(2), engine_max_size: ByteSize::gib(10) }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    max_age_days: Option<u64>,
    max_size: Option<ByteSize>,
    engine_max_size: Option<ByteSize>,
}

impl Limits {
    /// The state file's `[cache]`, each key missing taking its default.
    pub fn of(state: &State) -> Result<Self> {
        let d = Self::default();
        let t: Option<Table> = state.section("cache").with_context(|| {
            format!(
                "[cache] in {} is not valid: keys are max_age_days (days), max_size and engine_max_size (sizes such as \"2GiB\")",
                state.path().display()
            )
        })?;
        let Some(t) = t else { return Ok(d) };
        Ok(Self {
            max_age_days: t.max_age_days.unwrap_or(d.max_age_days),
            max_size: t.max_size.unwrap_or(d.max_size),
            engine_max_size: t.engine_max_size.unwrap_or(d.engine_max_size),
        })
    }

    /// The engine's quota: up to `engine_max_size`, evicting down to 80 %.
    pub fn engine_quota(&self) -> Quota {
        Quota { high: self.engine_max_size, low: ByteSize(self.engine_max_size.as_u64() / 10 * 8) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_sets_limits_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.toml");
        assert_eq!(Limits::of(&State::load(&path).unwrap()).unwrap(), Limits::default());
        std::fs::write(&path, "[cache]\nmax_size = \"500 MiB\"\nengine_max_size = 4294967296\n").unwrap();
        let l = Limits::of(&State::load(&path).unwrap()).unwrap();
        assert_eq!((l.max_size, l.engine_max_size, l.max_age_days), (ByteSize::mib(500), ByteSize::gib(4), 30));
        assert_eq!(l.engine_quota().low, ByteSize(4294967296 / 10 * 8));
        std::fs::write(&path, "[cache]\nmax_sise = \"1G\"\n").unwrap();
        let err = format!("{:#}", Limits::of(&State::load(&path).unwrap()).unwrap_err());
        assert!(err.contains("keys are max_age_days") && err.contains("max_sise"), "{err}");
    }
}
