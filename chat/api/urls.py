"""REST routes of conversations, messages, sync and mentions (mounted under /api/v1/)."""

from django.urls import path

from chat.api import views

urlpatterns = [
    path("conversations", views.ConversationListApi.as_view(), name="conversations"),
    path("conversations/<int:conversation_id>", views.ConversationDetailApi.as_view(), name="conversation"),
    path(
        "conversations/<int:conversation_id>/members",
        views.ConversationMembersApi.as_view(),
        name="conversation-members",
    ),
    path(
        "conversations/<int:conversation_id>/messages",
        views.MessageListApi.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>",
        views.MessageDetailApi.as_view(),
        name="conversation-message",
    ),
    path(
        "conversations/<int:conversation_id>/read",
        views.ConversationReadApi.as_view(),
        name="conversation-read",
    ),
    path("sync", views.SyncApi.as_view(), name="sync"),
    path("mentions", views.MentionsApi.as_view(), name="mentions"),
    path("chat/server", views.ChatServerApi.as_view(), name="chat-server"),
]
