"""The dashboard's pages, one router per page family; ``web.app`` includes them in this order."""
