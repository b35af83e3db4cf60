#ifndef MLINFRA_CYAML_SHIM_H
#define MLINFRA_CYAML_SHIM_H
#include <yaml.h>
#endif
