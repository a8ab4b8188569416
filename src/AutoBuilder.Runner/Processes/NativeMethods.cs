using System.Runtime.InteropServices;

namespace AutoBuilder.Runner.Processes;

internal static partial class NativeMethods
{
    public const int SIGKILL = 9;

    /// <summary>kill(2): a negative pid signals the whole process group.</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
