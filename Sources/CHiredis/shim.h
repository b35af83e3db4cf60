#ifndef MLINFRA_CHIREDIS_SHIM_H
#define MLINFRA_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
