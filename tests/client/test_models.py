"""The client's answer types agree with the server's OpenAPI schema: every field the client reads
is one the server documents, required where the client requires it, of a compatible JSON type."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from labelbay.api.app import create_app
from labelbay.client import models
from tests.support.stack import make_settings

# client model → the server schema it reads
READS = {
    models.User: "UserOut",
    models.ProjectLabel: "LabelOut",
    models.Project: "ProjectOut",
    models.Image: "ImageOut",
    models.ImagePage: "ImagePage",
    models.Rejected: "Rejected",
    models.UploadResult: "UploadResult",
    models.ModelInfo: "ModelOut",
    models.Job: "JobOut",
    models.ImportProblem: "ImportProblem",
}
# `LabelImportReport` is the client's own summary of either shape of label import (a 200 report, or
# a job's counts and lists), tested against both in test_client.py.


@pytest.fixture(scope="module")
def server_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("openapi")
    app = create_app(make_settings(f"sqlite:///{folder}/unused.db", f"file://{folder}/objects"))
    schemas: dict[str, Any] = app.openapi()["components"]["schemas"]
    return schemas


def json_types(schema: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """The JSON types a property may have, `$ref`s followed (integers count as numbers)."""
    if "$ref" in schema:
        return json_types(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas)
    if "anyOf" in schema:
        return set().union(*(json_types(option, schemas) for option in schema["anyOf"]))
    kind = schema.get("type", "object")
    return {"number" if kind == "integer" else kind}


@pytest.mark.parametrize("model", list(READS), ids=lambda m: m.__name__)
def test_client_model_reads_what_the_server_documents(
    model: type[BaseModel], server_schemas: dict[str, Any]
) -> None:
    server = server_schemas[READS[model]]
    documented, required = server["properties"], set(server.get("required", []))
    client = model.model_json_schema(mode="validation")
    for name, field in model.model_fields.items():
        assert name in documented, f"{model.__name__}.{name} is not in {READS[model]}"
        if field.is_required():
            assert name in required, f"{model.__name__}.{name} is optional on the server"
        ours = json_types(client["properties"][name], client.get("$defs", {}))
        theirs = json_types(documented[name], server_schemas)
        assert theirs <= ours, f"{model.__name__}.{name}: the server may send {theirs - ours}"
