use clap::{Parser, Subcommand};
use omnivox_domain::Role;
use std::path::PathBuf;

/// Omnivox: a self-hosted contact center in one binary.
#[derive(Parser, Debug)]
#[command(name = "omnivox", version)]
pub struct Cli {
    /// A TOML config file (see `omnivox default-config`). Environment
    /// variables OMNIVOX__SECTION__KEY override it.
    #[arg(long, short, global = true, env = "OMNIVOX_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve {
        /// Do not apply migrations at start-up (refuse to start if any are pending).
        #[arg(long)]
        skip_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a documented example configuration.
    DefaultConfig,
    /// Load and validate the configuration, then print it (secrets redacted).
    CheckConfig,
    /// Print the role/permission matrix as Markdown.
    Permissions,
    /// Print the OpenAPI document.
    Openapi,
    /// Operator commands.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Run the dialer pacing simulator (bench/dialer schema) and print one
    /// JSON object per scenario and policy: means and 95 % intervals over
    /// the seeds.
    Sim {
        /// Scenario TOML files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// A pacing policy, repeatable (predictive, progressive, preview[:S],
        /// ratio:L, vicidial_adaptive:hard_limit|average|tapered); default:
        /// ours and every baseline.
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// Run these seeds instead of the scenarios' own, e.g. 1,2,3.
        #[arg(long, value_delimiter = ',')]
        seeds: Option<Vec<i64>>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCmd {
    /// Create an organization.
    CreateTenant {
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: Option<String>,
        /// IANA time zone, e.g. America/Chicago (default UTC).
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// Create a user (password from OMNIVOX_ADMIN_PASSWORD or stdin).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Slug of the organization to join.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        /// Make a platform super-admin (can create organizations).
        #[arg(long)]
        superadmin: bool,
    },
    /// Set a new password (from OMNIVOX_ADMIN_PASSWORD or stdin), sign out all sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
    /// Lift a sign-in lockout on an account or a source address.
    Unlock {
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        ip: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: omnivox_domain::access::UnknownRole| e.to_string())
}
