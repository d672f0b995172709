pytest_plugins = [
    "tests.support.moto_server",
    "tests.support.databases",
    "tests.support.stack",
    "tests.support.processes",
    "tests.support.private_services",
]
