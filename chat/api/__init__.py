"""The API server's chat endpoints: REST views, input serializers, URLs."""
