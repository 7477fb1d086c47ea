"""What every REST view of accounts shares: the logged-in user of a request, and the pages of
every list.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from accounts.models import User


class Pagination(PageNumberPagination):
    """Page-number pages over a stable order (each list orders by a unique key last).

    DRF falls back to the default page size when `page_size` is not a number and cuts it to the
    maximum when it is over; here either is a 400, as the schema's bounds say.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise serializers.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


def request_user(request: Request) -> User:
    """The logged-in user of `request`."""
    user = request.user
    assert isinstance(user, User)  # every view here but the public ones requires a login
    return user
