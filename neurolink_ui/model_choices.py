"""The models each panel suggests, default first: the catalogue's confirmed models of that panel.

Any other `owner/name[:version]` can be typed in; these are only the picker's suggestions. The
evidence for each (source and date checked) is in `neurolink_ui/catalog/models/`.
"""

from .catalog import suggested_models

CHAT_MODELS = suggested_models("chat")
IMAGE_MODELS = suggested_models("image")
VIDEO_MODELS = suggested_models("video")
AVATAR_MODELS = suggested_models("avatar")
MUSIC_MODELS = suggested_models("music")
