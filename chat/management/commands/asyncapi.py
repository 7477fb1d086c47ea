"""`manage.py asyncapi`: write the AsyncAPI document of the WebSocket protocol (docs/asyncapi.yaml)
from chat/protocol_schema.py; with `--check`, fail if the committed one differs instead; with
`--meta-schema FILE`, also validate it against AsyncAPI's own JSON Schema (`make asyncapi-check`)."""

import json
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from jsonschema import Draft7Validator

from chat.protocol_schema import ASYNCAPI_PATH, asyncapi_yaml


class Command(BaseCommand):
    help = "Write docs/asyncapi.yaml from the frame schemas of chat/frame_schemas/."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--file", default=str(Path(settings.BASE_DIR) / ASYNCAPI_PATH))
        parser.add_argument(
            "--check", action="store_true", help="fail if the file is not what would be written"
        )
        parser.add_argument(
            "--meta-schema", help="the AsyncAPI 3.0.0 JSON Schema to validate the document against"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        text = asyncapi_yaml()
        if options["meta_schema"]:
            meta = json.loads(Path(options["meta_schema"]).read_text())
            errors = [
                f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                for e in Draft7Validator(meta).iter_errors(yaml.safe_load(text))
            ]
            if errors:
                raise CommandError("not a valid AsyncAPI 3.0.0 document:\n" + "\n".join(errors))
            self.stdout.write("the document is valid AsyncAPI 3.0.0")
        if options["check"]:
            if not path.exists() or path.read_text() != text:
                raise CommandError(f"{path} is out of date: run `make asyncapi`")
            self.stdout.write(f"{path} is up to date")
            return
        path.write_text(text)
        self.stdout.write(f"wrote {path}")
