"""REST routes of conversations, messages, sync and mentions (mounted under /api/v1/)."""

from django.urls import path

from chat import apis

urlpatterns = [
    path("conversations", apis.ConversationListApi.as_view(), name="conversations"),
    path("conversations/<int:conversation_id>", apis.ConversationDetailApi.as_view(), name="conversation"),
    path(
        "conversations/<int:conversation_id>/members",
        apis.ConversationMembersApi.as_view(),
        name="conversation-members",
    ),
    path(
        "conversations/<int:conversation_id>/messages",
        apis.MessageListApi.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>",
        apis.MessageDetailApi.as_view(),
        name="conversation-message",
    ),
    path(
        "conversations/<int:conversation_id>/read",
        apis.ConversationReadApi.as_view(),
        name="conversation-read",
    ),
    path("sync", apis.SyncApi.as_view(), name="sync"),
    path("mentions", apis.MentionsApi.as_view(), name="mentions"),
    path("chat/server", apis.ChatServerApi.as_view(), name="chat-server"),
]
