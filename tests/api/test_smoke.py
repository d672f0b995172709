from tests.support.stack import Stack


def test_health_ready_config(stack: Stack) -> None:
    assert stack.client.get("/health").json()["status"] == "ok"
    ready = stack.client.get("/ready")
    assert ready.status_code == 200, ready.text
    config = stack.client.get("/config").json()
    assert "secret_key" not in config
    assert set(config["storage_locations"]) == {"input", "output", "nolabel", "models", "artifacts"}
