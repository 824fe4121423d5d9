// The Android library module of Cunwu (an AAR): the generated Kotlin bindings of
// cunwu-ffi plus libcunwu_ffi.so for each ABI (built by build-jni.sh).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "cunwu-android"
include(":cunwu")
