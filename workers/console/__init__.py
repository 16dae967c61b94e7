"""The admin's web console (``segsync console``) and the shareable report (``segsync report``)."""
