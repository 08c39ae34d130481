"""The server specs: ports, stray settings removed, secrets kept off the command line."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from pydantic import SecretStr

from stack.credentials import StackCredentials, generate_credentials, load_credentials, save_credentials
from stack.servers import label_studio_spec, prefect_spec, receiver_spec, s3_spec, serve_spec
from stack.settings import StackSettings


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path / "home", port_base=21000, ls_venv=tmp_path / "lsvenv")


def test_ports_follow_the_base_and_avoid_defaults(settings: StackSettings) -> None:
    assert (settings.prefect_port, settings.label_studio_port, settings.s3_port, settings.receiver_port) == (
        21000,
        21001,
        21002,
        21003,
    )
    default = StackSettings()
    assert {4200, 8080}.isdisjoint(
        {default.prefect_port, default.label_studio_port, default.s3_port, default.receiver_port}
    )


def test_port_base_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLOOP_PORT_BASE", "23000")
    assert StackSettings().label_studio_port == 23001


def test_label_studio_ignores_stray_settings_and_keeps_secrets_off_argv(settings: StackSettings) -> None:
    credentials = generate_credentials()
    environ = {
        "PORT": "9999",
        "USERNAME": "someone",
        "PASSWORD": "x",
        "LABEL_STUDIO_HOST": "http://elsewhere",
        "HEARTEX_FOO": "1",
        "PATH": "/usr/bin",
    }
    spec = label_studio_spec(settings, credentials, environ)
    token = credentials.label_studio_token.get_secret_value()
    password = credentials.label_studio_password.get_secret_value()
    assert not any(token in arg or password in arg for arg in spec.command)
    assert spec.env["LABEL_STUDIO_USER_TOKEN"] == token
    assert {"PORT", "USERNAME", "PASSWORD", "LABEL_STUDIO_HOST", "HEARTEX_FOO"}.isdisjoint(spec.env)
    assert spec.env["PATH"] == "/usr/bin"
    assert spec.command[0] == str(settings.label_studio_venv / "bin" / "label-studio")
    assert spec.command[spec.command.index("-p") + 1] == "21001"
    assert token not in repr(spec)


def test_prefect_gets_its_own_home_and_no_client_settings(settings: StackSettings) -> None:
    environ = {
        "PREFECT_API_URL": "http://elsewhere/api",
        "PREFECT_SERVER_API_AUTH_STRING": "someone:else",
        "PATH": "/bin",
    }
    spec = prefect_spec(settings, generate_credentials(), environ)
    assert spec.env["PREFECT_HOME"] == str(settings.root / "prefect")
    assert "PREFECT_API_URL" not in spec.env
    assert spec.env["PREFECT_UI_API_URL"] == "http://127.0.0.1:21000/api"
    assert spec.command[-4:] == ["--host", "127.0.0.1", "--port", "21000"]


def test_the_prefect_server_and_each_client_share_the_auth_string_off_argv(
    settings: StackSettings,
) -> None:
    credentials = generate_credentials()
    auth = credentials.prefect_api_auth_string.get_secret_value()
    environ = {"PREFECT_API_AUTH_STRING": "someone:else", "PATH": "/bin"}
    server = prefect_spec(settings, credentials, environ)
    assert server.env["PREFECT_SERVER_API_AUTH_STRING"] == auth
    assert "PREFECT_API_AUTH_STRING" not in server.env
    clients = [receiver_spec(settings, credentials, environ), serve_spec(settings, credentials, environ)]
    for spec in [server, *clients]:
        assert not any(auth in arg for arg in spec.command)
        assert auth not in repr(spec)
    for spec in clients:
        assert spec.env["PREFECT_API_AUTH_STRING"] == auth
        assert spec.env["PREFECT_API_URL"] == settings.prefect_api_url
    assert auth != generate_credentials().prefect_api_auth_string.get_secret_value()


def test_every_server_listens_on_loopback_only(settings: StackSettings) -> None:
    specs = [
        prefect_spec(settings, generate_credentials(), {}),
        label_studio_spec(settings, generate_credentials(), {}),
        s3_spec(settings, {}),
    ]
    for spec in specs:
        assert "127.0.0.1" in spec.command
        assert spec.health_url.startswith("http://127.0.0.1:")
    served = serve_spec(settings, generate_credentials(), {})
    assert served.env["PREFECT_RUNNER_SERVER_HOST"] == "127.0.0.1"
    assert served.health_url == f"http://127.0.0.1:{settings.serve_port}/health"
    assert len({spec.port for spec in [*specs, served]}) == 4


def test_the_demo_serve_reports_to_the_stack_and_stops_as_on_ctrl_c(
    settings: StackSettings,
) -> None:
    spec = serve_spec(
        settings, generate_credentials(), {"PREFECT_API_URL": "http://elsewhere/api", "PATH": "/bin"}
    )
    assert spec.env["PREFECT_API_URL"] == settings.prefect_api_url
    assert spec.env["PREFECT_RUNNER_SERVER_PORT"] == str(settings.port_base + 4)
    assert spec.command[-3:] == ["serve", "--file", str(settings.root / "prefect.yaml")]
    # SIGINT: serve puts the runs in flight back on the schedule (SIGTERM goes to
    # Prefect's runner, which exits without doing so)
    assert spec.stop_signal == signal.SIGINT


def test_credentials_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    credentials = generate_credentials()
    save_credentials(path, credentials)
    assert path.stat().st_mode & 0o077 == 0
    loaded = load_credentials(path)
    assert loaded.label_studio_token.get_secret_value() == credentials.label_studio_token.get_secret_value()
    assert isinstance(loaded.s3_secret_access_key, SecretStr)
    assert isinstance(loaded, StackCredentials)


def test_missing_credentials_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="labelloop stack up"):
        load_credentials(tmp_path / "none.json")


def test_credentials_written_before_the_auth_string_gain_one_and_keep_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "credentials.json"
    credentials = generate_credentials()
    save_credentials(path, credentials)
    older = json.loads(path.read_text())
    del older["prefect_api_auth_string"]
    path.write_text(json.dumps(older))

    loaded = load_credentials(path)
    auth = loaded.prefect_api_auth_string.get_secret_value()
    assert auth.startswith("labelloop:") and len(auth) > 30
    assert loaded.label_studio_token.get_secret_value() == older["label_studio_token"]
    assert json.loads(path.read_text()) == older | {"prefect_api_auth_string": auth}
    assert path.stat().st_mode & 0o077 == 0
    assert load_credentials(path).prefect_api_auth_string.get_secret_value() == auth
