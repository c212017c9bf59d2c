//! `omnivox`: one binary for the whole contact center.

mod cli;
mod telemetry;

use anyhow::Context;
use clap::Parser;
use cli::{AdminCmd, Cli, Command};
use omnivox_api::routes::setup::FirstRun;
use omnivox_api::{Application, BuildOptions, Config};
use std::io::Read;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve {
        skip_migrate: false,
    }) {
        Command::DefaultConfig => {
            print!("{}", omnivox_api::config::DEFAULT_CONFIG_TOML);
            Ok(())
        }
        Command::Permissions => {
            print!("{}", omnivox_domain::access::permission_matrix_markdown());
            Ok(())
        }
        Command::Openapi => {
            let doc = omnivox_api::routes::openapi();
            println!("{}", doc.to_pretty_json().context("rendering OpenAPI")?);
            Ok(())
        }
        Command::CheckConfig => {
            let cfg = Config::load(cli.config.as_deref())?;
            println!("configuration is valid:\n{cfg:#?}");
            Ok(())
        }
        Command::Sim {
            scenarios,
            policies,
            seeds,
        } => {
            let mut out = std::io::stdout().lock();
            omnivox_dialer::report::run_cli(&scenarios, &policies, seeds.as_deref(), &mut out)?;
            Ok(())
        }
        Command::Migrate => runtime()?.block_on(async {
            let cfg = Config::load(cli.config.as_deref())?;
            telemetry::init(&cfg.log)?;
            let store = omnivox_store::Store::connect(&cfg.database).await?;
            store.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }),
        Command::Admin(cmd) => runtime()?.block_on(async {
            let cfg = Config::load(cli.config.as_deref())?;
            telemetry::init(&cfg.log)?;
            admin(cfg, cmd).await
        }),
        Command::Serve { skip_migrate } => runtime()?.block_on(async {
            let cfg = Config::load(cli.config.as_deref())?;
            telemetry::init(&cfg.log)?;
            serve(
                cfg,
                BuildOptions {
                    migrate: !skip_migrate,
                    ..BuildOptions::default()
                },
            )
            .await
        }),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // Worker count follows TOKIO_WORKER_THREADS, else one per core.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn serve(cfg: Config, opts: BuildOptions) -> anyhow::Result<()> {
    tracing::info!(database = %omnivox_store::redact_url(&cfg.database.url), "starting");
    let public_url = cfg.http.public_url.clone();
    let app = Application::build(cfg, opts).await?;
    tracing::info!(http = %app.http_addr(), metrics = ?app.metrics_addr(), "listening");
    match app.first_run() {
        FirstRun::Token(token) => {
            // Printed, not logged: it is a one-time secret for the operator.
            eprintln!(
                "\nOmnivox has no users yet. Finish setup with this one-time token:\n\n  \
                 curl -X POST {public_url}/api/v1/setup -H 'content-type: application/json' \\\n    \
                 -d '{{\"setup_token\":\"{token}\",\"email\":\"you@example.com\",\"display_name\":\"Your Name\",\
                 \"password\":\"<12+ characters>\",\"tenant_name\":\"Your Contact Center\"}}'\n"
            );
        }
        FirstRun::Bootstrapped { tenant } => {
            tracing::info!(tenant_id = %tenant, "first tenant and owner created from [bootstrap]");
        }
        FirstRun::Done => {}
    }
    let token = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        token.cancel();
    });
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// A password from `OMNIVOX_ADMIN_PASSWORD`, else the first line of stdin,
/// so it never lands in shell history or `ps`.
fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("OMNIVOX_ADMIN_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (read from stdin):");
    let mut s = String::new();
    std::io::stdin()
        .take(1024)
        .read_to_string(&mut s)
        .context("reading the password from stdin")?;
    let p = s.lines().next().unwrap_or("").to_owned();
    anyhow::ensure!(
        !p.is_empty(),
        "no password given (set OMNIVOX_ADMIN_PASSWORD or pipe it in)"
    );
    Ok(p)
}

async fn admin(cfg: Config, cmd: AdminCmd) -> anyhow::Result<()> {
    let admin = omnivox_api::admin::Admin::connect(&cfg).await?;
    match cmd {
        AdminCmd::CreateTenant {
            name,
            slug,
            time_zone,
        } => {
            let t = admin.create_tenant(&name, slug, time_zone).await?;
            println!(
                "created organization {} (slug {}, id {})",
                t.name, t.slug, t.id
            );
        }
        AdminCmd::CreateUser {
            email,
            name,
            tenant,
            role,
            superadmin,
        } => {
            let membership = match (&tenant, role) {
                (Some(slug), Some(role)) => Some((slug.as_str(), role)),
                (None, None) => None,
                _ => anyhow::bail!("--tenant and --role go together"),
            };
            anyhow::ensure!(
                membership.is_some() || superadmin,
                "give --tenant and --role, or --superadmin"
            );
            let pw = read_password()?;
            let name = name.unwrap_or_else(|| email.clone());
            let u = admin
                .create_user(&email, &name, &pw, membership, superadmin)
                .await?;
            println!("created user {} (id {})", u.email, u.id);
        }
        AdminCmd::ResetPassword { email } => {
            let pw = read_password()?;
            admin.reset_password(&email, &pw).await?;
            println!("password reset for {email}; all of their sessions were signed out");
        }
        AdminCmd::Unlock { email, ip } => match (email, ip) {
            (Some(e), None) => {
                admin.unlock_user(&e).await?;
                println!("unlocked {e}");
            }
            (None, Some(ip)) => {
                let was = admin.unlock_ip(&ip).await?;
                println!("{ip}: {}", if was { "unlocked" } else { "was not locked" });
            }
            _ => anyhow::bail!("give exactly one of --email or --ip"),
        },
    }
    Ok(())
}
