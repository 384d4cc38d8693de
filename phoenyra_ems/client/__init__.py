"""Typed async client of the Phoenyra EMS daemon's API (REST + WebSocket), aiohttp only.

```python
async with PhoenyraClient("127.0.0.1", 8080, token=TOKEN) as client:
    for site in await client.sites():
        state = await client.state(site.id)
```

See docs/api.md for the endpoints, roles and the WebSocket protocol.
"""

from phoenyra_ems.client import community, events, exceptions, forecast, models, plan, selector, vpp
from phoenyra_ems.client.client import UNSET, PhoenyraClient
from phoenyra_ems.client.community import *  # noqa: F403 (each module's __all__ is the public API)
from phoenyra_ems.client.events import *  # noqa: F403
from phoenyra_ems.client.exceptions import *  # noqa: F403
from phoenyra_ems.client.forecast import *  # noqa: F403
from phoenyra_ems.client.models import *  # noqa: F403
from phoenyra_ems.client.plan import *  # noqa: F403
from phoenyra_ems.client.selector import *  # noqa: F403
from phoenyra_ems.client.stream import EventCallback
from phoenyra_ems.client.version import __version__
from phoenyra_ems.client.vpp import *  # noqa: F403

__all__ = ["UNSET", "EventCallback", "PhoenyraClient", "__version__"]
__all__ += community.__all__
__all__ += events.__all__
__all__ += exceptions.__all__
__all__ += forecast.__all__
__all__ += models.__all__
__all__ += plan.__all__
__all__ += selector.__all__
__all__ += vpp.__all__
