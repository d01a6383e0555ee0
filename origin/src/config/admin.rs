//! The operator's commands (`origin admin …`), as the command line spells them; `admin.rs`
//! carries them out.

use clap::Subcommand;

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and its first live API key, holding every scope (shown only here).
    CreateTenant {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 0)]
        tokens: i64,
    },
    /// Create an API key for a tenant.
    CreateKey {
        #[arg(long)]
        tenant: String,
        /// Scopes, comma or space separated, or `*`; none means every scope (`*`).
        #[arg(long, num_args = 0.., value_delimiter = ',')]
        scopes: Vec<String>,
        /// A `ys_test_` key instead of `ys_live_`.
        #[arg(long)]
        test: bool,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke an API key at once.
    RevokeKey {
        #[arg(long)]
        key_id: String,
    },
    /// Add tokens to a tenant's balance.
    AddTokens {
        #[arg(long)]
        tenant: String,
        /// Negative to take tokens back (never below zero).
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
    },
}
