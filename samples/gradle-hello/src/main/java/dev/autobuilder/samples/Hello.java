package dev.autobuilder.samples;

public final class Hello {
    private Hello() {
    }

    public static void main(String[] args) {
        System.out.println("Hello from gradle-hello");
    }
}
