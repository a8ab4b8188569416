using System.Runtime.InteropServices;

namespace AutoBuilder.Runner.Processes;

internal static partial class NativeMethods
{
    public const int SIGKILL = 9;
    public const int PR_SET_DUMPABLE = 4;

    /// <summary>kill(2): a negative pid signals the whole process group.</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    /// <summary>prctl(2); used with PR_SET_DUMPABLE 0 so same-uid processes cannot read our /proc/PID/mem or environ.</summary>
    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
