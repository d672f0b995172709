pytest_plugins = ["tests.support.moto_server"]
