"""The `labelbay` command: serve, database migrations, users (and, with the engine, labeling)."""

from __future__ import annotations

from typing import Annotated

import typer

from labelbay.config import get_settings

app = typer.Typer(
    help="labelbay: label images with ML models and review the labels.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    workers: Annotated[int, typer.Option(help="API processes.")] = 1,
) -> None:
    """Upgrade the database and serve the API and web UI (embedded defaults: SQLite + ./data)."""
    import uvicorn

    from labelbay.db.migrate import upgrade
    from labelbay.logs import configure_logging

    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    upgrade(settings.database_url)
    _hint_first_user(settings.database_url)
    uvicorn.run(
        "labelbay.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def _hint_first_user(database_url: str) -> None:
    from labelbay.db.session import make_engine, make_sessionmaker
    from labelbay.services.users import count_users

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if count_users(session) == 0:
                typer.echo(
                    "No users yet: create one with "
                    "`labelbay user create --email you@example.com --password ... --admin`",
                    err=True,
                )
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from labelbay.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at revision {revision}")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="E-mail address; it is the sign-in name.")],
    password: Annotated[
        str, typer.Option(help="At least 8 characters.", prompt=True, hide_input=True)
    ],
    admin: Annotated[
        bool, typer.Option("--admin", help="Administrator: sees every project.")
    ] = False,
) -> None:
    """Create a user (the database is upgraded first if needed)."""
    from labelbay.db.migrate import upgrade
    from labelbay.db.session import make_engine, make_sessionmaker, transaction
    from labelbay.errors import DomainError
    from labelbay.services.users import create_user

    settings = get_settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            user = create_user(session, email=email, password=password, is_admin=admin)
            typer.echo(f"created user {user.id} <{user.email}>{' (admin)' if admin else ''}")
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()


if __name__ == "__main__":
    app()
