"""Push notifications: device registrations, Web Push / FCM / APNs senders, the push queue."""
